"""The obvious alternative to leakhound: a notebook-style polars + maxminddb script.

What an analyst would write in a notebook to review an API-usage export for a leaked key, in
the vectorised style polars encourages: read the CSV, fingerprint the keys, geolocate the
distinct addresses with the `maxminddb` module and join them back, then three detectors —

- unfamiliar sources: the first use of a key from an AS or a country it had not used in its
  first seven days;
- rate spikes: requests per key and hour against the median of the same hour of the week
  (robust z-score with the median absolute deviation), at least 2x and 10 requests more;
- off-hours: requests outside 08:00-18:00 Monday to Friday (Europe/Berlin) at an hour of the
  week when the key is rarely active;

and write the flagged events (CSV) and the enriched events (Parquet). Used by
`benches/e2e.sh` to time leakhound against it on the same input.

    python benches/python_baseline.py INPUT.csv GEOIP_DIR OUT_DIR
"""

import hashlib
import pathlib
import sys

import maxminddb
import polars as pl


def geolocate(ips: list[str], geoip_dir: pathlib.Path) -> pl.DataFrame:
    city = asn = None
    for path in sorted(geoip_dir.glob("*.mmdb")):
        reader = maxminddb.open_database(str(path))
        kind = reader.metadata().database_type
        if "City" in kind or "Country" in kind:
            city = reader
        elif "ASN" in kind:
            asn = reader
    rows = []
    for ip in ips:
        c = city.get(ip) if city else None
        a = asn.get(ip) if asn else None
        c = c or {}
        a = a or {}
        loc = c.get("location", {})
        rows.append(
            {
                "client_ip": ip,
                "country": c.get("country", {}).get("iso_code"),
                "city": c.get("city", {}).get("names", {}).get("en"),
                "latitude": loc.get("latitude"),
                "longitude": loc.get("longitude"),
                "asn": a.get("autonomous_system_number"),
                "as_org": a.get("autonomous_system_organization"),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "client_ip": pl.Utf8,
            "country": pl.Utf8,
            "city": pl.Utf8,
            "latitude": pl.Float64,
            "longitude": pl.Float64,
            "asn": pl.Int64,
            "as_org": pl.Utf8,
        },
    )


def main(src: str, geoip: str, out: str) -> None:
    out_dir = pathlib.Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    events = pl.read_csv(src).with_columns(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_zone="UTC")
    )

    # Fingerprint the keys (distinct values only) and drop the raw ones.
    keys = events.select(pl.col("api_key").unique())
    keys = keys.with_columns(
        pl.col("api_key")
        .map_elements(lambda k: "fc1:" + hashlib.sha256(k.encode()).hexdigest()[:12], return_dtype=pl.Utf8)
        .alias("credential")
    )
    events = events.join(keys, on="api_key", how="left").drop("api_key")

    # Geolocate each distinct address once and join back.
    ips = events.select(pl.col("client_ip").unique().drop_nulls()).to_series().to_list()
    events = events.join(geolocate(ips, pathlib.Path(geoip)), on="client_ip", how="left")
    events = events.sort("timestamp").with_row_index("row")

    # Unfamiliar sources: AS or country not seen in the key's first seven days.
    first = events.group_by("credential").agg(pl.col("timestamp").min().alias("first_seen"))
    events = events.join(first, on="credential")
    baseline = events.filter(pl.col("timestamp") < pl.col("first_seen") + pl.duration(days=7))
    known_asn = baseline.select("credential", "asn").unique().with_columns(pl.lit(True).alias("known_asn"))
    known_cc = baseline.select("credential", "country").unique().with_columns(pl.lit(True).alias("known_cc"))
    unfamiliar = (
        events.filter(pl.col("timestamp") >= pl.col("first_seen") + pl.duration(days=7))
        .join(known_asn, on=["credential", "asn"], how="left")
        .join(known_cc, on=["credential", "country"], how="left")
        .filter(pl.col("known_asn").is_null() | pl.col("known_cc").is_null())
        .select("row", pl.lit("unfamiliar_source").alias("detector"))
    )

    # Rate spikes: per key and hour against the same hour of the week.
    hourly = (
        events.group_by("credential", pl.col("timestamp").dt.truncate("1h").alias("hour"))
        .len()
        .with_columns((pl.col("hour").dt.weekday() * 24 + pl.col("hour").dt.hour()).alias("how"))
    )
    stats = hourly.group_by("credential", "how").agg(
        pl.col("len").median().alias("median"),
        (pl.col("len") - pl.col("len").median()).abs().median().alias("mad"),
    )
    spikes = (
        hourly.join(stats, on=["credential", "how"])
        .filter(
            (pl.col("len") > pl.col("median") + 5 * (1.4826 * pl.col("mad")).clip(lower_bound=1.0))
            & (pl.col("len") >= 2 * pl.col("median"))
            & (pl.col("len") - pl.col("median") >= 10)
        )
        .select("credential", "hour")
    )
    rate = (
        events.with_columns(pl.col("timestamp").dt.truncate("1h").alias("hour"))
        .join(spikes, on=["credential", "hour"])
        .select("row", pl.lit("rate_spike").alias("detector"))
    )

    # Off-hours: outside working hours, at an hour of the week the key rarely uses.
    local = events.with_columns(pl.col("timestamp").dt.convert_time_zone("Europe/Berlin").alias("local"))
    local = local.with_columns(
        (pl.col("local").dt.weekday() * 24 + pl.col("local").dt.hour()).alias("how"),
        ((pl.col("local").dt.weekday() <= 5) & pl.col("local").dt.hour().is_between(8, 17)).alias("work"),
    )
    weeks = (events["timestamp"].max() - events["timestamp"].min()).total_seconds() / (7 * 86400)
    usual = local.group_by("credential", "how").len().with_columns((pl.col("len") / max(weeks, 1.0)).alias("per_week"))
    off_hours = (
        local.filter(~pl.col("work"))
        .join(usual, on=["credential", "how"])
        .filter(pl.col("per_week") < 0.5)
        .select("row", pl.lit("off_hours").alias("detector"))
    )

    flagged = (
        pl.concat([unfamiliar, rate, off_hours])
        .group_by("row")
        .agg(pl.col("detector").sort().str.join(";").alias("detectors"))
        .join(events, on="row")
        .sort("row")
        .drop("first_seen")
    )
    flagged.write_csv(out_dir / "flagged_events.csv")
    events.drop("first_seen").write_parquet(out_dir / "events.parquet", compression="zstd")
    print(f"{events.height} events, {flagged.height} flagged", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])

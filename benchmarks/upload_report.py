"""The upload benchmark's report: every figure beside its peer or limit, as a ratio, PASS/FAIL.

:func:`verdict_rows` turns ``bench_upload.py``'s results into rows (also written to ``--json``);
:func:`print_report` prints each image's runs and then the table. The targets are issue 12's.
"""

from __future__ import annotations

import statistics

LIMIT_TARGET = 1.15  # shipyard / the SDK replay of the same Put Pages
BLOBXFER_TARGET = {"a": 20.0}  # blobxfer / shipyard (both https); (b): report only
WIRE_TARGET = 1.02  # wire bytes / non-zero data
LOCAL_TARGET = 0.80  # shipyard's local-store throughput / cp --sparse=always's

Row = dict[str, object]


def _row(image: str, measure: str, shipyard: float | None, other: float | None, ratio: float,
         target: str, ok: bool | None) -> Row:
    return {"image": image, "measure": measure, "shipyard": shipyard, "other": other, "ratio": ratio,
            "target": target, "verdict": "-" if ok is None else ("PASS" if ok else "FAIL")}


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _azurite_rows(name: str, entry: dict) -> list[Row]:
    rows: list[Row] = []
    plain: dict[str, float] = {}
    for scheme, pairs in entry["pairs"].items():
        ship = _median([p["shipyard"]["seconds"] for p in pairs])
        replay = _median([p["replay"]["seconds"] for p in pairs])
        ratio = _median([p["shipyard"]["seconds"] / p["replay"]["seconds"] for p in pairs])
        plain[scheme] = ship
        rows.append(_row(name, f"time vs the replay limit ({scheme})", ship, replay, ratio,
                         f"<= {LIMIT_TARGET}x", ratio <= LIMIT_TARGET))
    for scheme, pairs in entry["pairs"].items():
        wire = max(p["shipyard"]["wire_bytes"] for p in pairs) / entry["nonzero_bytes"]
        rows.append(_row(name, f"wire bytes / non-zero data ({scheme})", None, None, wire,
                         f"<= {WIRE_TARGET}", wire <= WIRE_TARGET))
    bx = entry.get("blobxfer")
    if bx and "https" in plain:
        target = BLOBXFER_TARGET.get(name)
        wanted = f">= {target:g}x faster" if target else "report"
        if "seconds" not in bx:
            row = _row(name, "blobxfer / shipyard (https)", plain["https"], None, float("nan"), wanted, None)
            row["verdict"] = f"blobxfer failed {len(bx['failed_attempts'])}x"
            rows.append(row)
        else:
            ratio = bx["seconds"] / plain["https"]
            rows.append(_row(name, "blobxfer / shipyard (https)", plain["https"], bx["seconds"], ratio, wanted,
                             None if target is None else ratio >= target))
    first = next(iter(plain), None)
    md5 = entry.get("content_md5")
    if md5 and first:
        cold, cached = md5["cold"], md5["cached"]
        rows.append(_row(name, f"--content-md5, cold cache / plain ({first})", cold["seconds"], plain[first],
                         cold["seconds"] / plain[first], "report", None))
        rows.append(_row(name, f"--content-md5, cached / plain ({first}): not recomputed", cached["seconds"],
                         plain[first], cached["seconds"] / plain[first], "no recompute", bool(cached["md5_cached"])))
    verify = entry.get("verify")
    if verify and first:
        rows.append(_row(name, f"--verify / plain ({first})", verify["seconds"], plain[first],
                         verify["seconds"] / plain[first], "report", None))
    return rows


def _local_rows(name: str, entry: dict) -> list[Row]:
    rounds = entry["rounds"]
    ship = _median([r["shipyard"] for r in rounds])
    rows = []
    for peer, headline in (("cp+sync", " (headline)"), ("cp", "")):
        ratio = _median([r[peer] / r["shipyard"] for r in rounds])  # throughput: the inverse of time
        label = "cp --sparse=always + sync FILE" if peer == "cp+sync" else "cp --sparse=always"
        rows.append(_row(name, f"throughput vs {label}{headline}", ship, _median([r[peer] for r in rounds]),
                         ratio, f">= {LOCAL_TARGET:.0%}", ratio >= LOCAL_TARGET))
    return rows


def verdict_rows(report: dict) -> list[Row]:
    rows: list[Row] = []
    for name, entry in report["images"].items():
        rows += _local_rows(name, entry) if "rounds" in entry else _azurite_rows(name, entry)
    return rows


def _run_line(run: dict, nonzero: int) -> str:
    cpu = f", CPU {run['cpu_s']:.2f} s" if "cpu_s" in run else ""
    if run.get("azurite_cpu_s") is not None:
        cpu += f" (Azurite {run['azurite_cpu_s']:.2f} s)"
    puts = f", {run['ranges_sent']:,} Put Pages" if "ranges_sent" in run else ""
    return (f"    {run['tool']:34s} {run['seconds']:8.2f} s{cpu}   wire {run['wire_bytes']:>14,} B "
            f"({run['wire_bytes'] / nonzero:.4f}x non-zero){puts}")


def print_report(report: dict) -> None:
    cpus = report["cpus"]
    print("\n=== page-blob upload: shipyard vs the replay limit and its peers, one run ===")
    print(f"{cpus} CPUs, Python {report['python']}, parallelism {report['parallelism']}, "
          f"{report['repeat']} round(s); load average (1, 5, 15 min) "
          f"{_load(report['load_start'])} at the start, {_load(report['load_end'])} at the end")
    for name, entry in report["images"].items():
        nonzero = entry["nonzero_bytes"]
        print(f"\n({name}) {entry['label']}: {entry['size_bytes']:,} B, non-zero pages {nonzero:,} B "
              f"({nonzero / entry['size_bytes']:.2%}); load {_load(entry['load_start'])} -> {_load(entry['load_end'])}")
        if "rounds" in entry:
            for i, r in enumerate(entry["rounds"], 1):
                print(f"    round {i}: shipyard (local) {r['shipyard']:.2f} s (CPU {r['shipyard_cpu_s']:.2f} s, "
                      f"{nonzero / r['shipyard'] / 1e6:.0f} MB/s of data), cp {r['cp']:.2f} s, "
                      f"cp + sync {r['cp+sync']:.2f} s")
            continue
        print(f"    {entry['put_pages']:,} Put Pages planned (plan_upload_ranges), the same for shipyard and replay")
        for pairs in entry["pairs"].values():
            for pair in pairs:
                print(_run_line(pair["shipyard"], nonzero))
                print(_run_line(pair["replay"], nonzero))
        for extra in (entry.get("content_md5", {}).get("cold"), entry.get("content_md5", {}).get("cached"),
                      entry.get("verify")):
            if extra:
                tail = f"   (verify {extra['verify_s']:.2f} s)" if extra.get("verify_s") is not None else ""
                tail += "   MD5 from the cache" if extra.get("md5_cached") else ""
                print(_run_line(extra, nonzero) + tail)
        md5 = entry.get("content_md5")
        if md5:
            print(f"    MD5 alone: {md5['md5_gb_s']:.2f} GB/s on this machine now, {md5['md5_alone_s']:.1f} s "
                  "for the whole image (1 GiB of zeros timed)")
        bx = entry.get("blobxfer")
        for failure in (bx or {}).get("failed_attempts", []):
            print(f"    blobxfer attempt failed: {failure.splitlines()[-1]}")
        if bx and "seconds" in bx:
            print(f"    {bx['tool']:34s} {bx['seconds']:8.2f} s   wire {bx['wire_bytes']:>14,} B "
                  f"({bx['wire_bytes'] / nonzero:.2f}x non-zero), stored {bx['bytes_stored']:,} B")
    print("\n| image | measure | shipyard | peer / limit | ratio | target | |")
    print("|---|---|---|---|---|---|---|")
    for row in report["verdicts"]:
        ship = "" if row["shipyard"] is None else f"{row['shipyard']:.2f} s"
        other = "" if row["other"] is None else f"{row['other']:.2f} s"
        print(f"| ({row['image']}) | {row['measure']} | {ship} | {other} | {row['ratio']:.3f} | {row['target']} "
              f"| {row['verdict']} |")


def _load(values: tuple[float, float, float] | list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)

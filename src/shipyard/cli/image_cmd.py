"""``shipyard image ...``: inspect, check, convert and build VHD images, offline.

`inspect` and `check` also read an image in place from a page blob, given its storage URI
(``shipyard.cli.image_source``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.checks import check_options, load_config, pool_context, render_results, validate_skips
from shipyard.cli.image_source import is_storage_uri, open_blob_image, read_line
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.progress import progress_bar
from shipyard.errors import UsageError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str, option: str = "--size") -> int:
    """``30G``, ``512MiB``, ``1048576`` -> bytes (binary units)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(f"{option} {text!r}: expected a size such as 30G, 512M or a number of bytes")
    number, unit = float(match[1]), match[2].lower()
    return int(number * (1 << (10 * " kmgt".index(unit or " "))))


@click.group("image")
@global_options
def image_group() -> None:
    """Custom VM images: build, convert, inspect and check offline; upload and replicate."""


@image_group.command("inspect")
@click.argument("image")
@global_options
@pass_settings
def inspect(settings: Settings, image: str) -> int:
    """Print an image's format report and the facts read from its root filesystem.

    IMAGE is a file, or a page blob's bare storage URI (local://ACCOUNT/CONTAINER/BLOB,
    https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB, or an emulator's blob_endpoint/...),
    read in place with its storage link from the credentials; the bytes downloaded are reported.
    What Azure would refuse (a dynamic VHD, a bad footer checksum, ...) is listed in the
    report, and the exit status stays 0: `image check` is the command that judges.
    """
    from shipyard.checks.image import inspect_image

    if is_storage_uri(image):
        from shipyard.storage.blob_open import blob_report

        device = open_blob_image(settings, image)
        data = {**inspect_image(device).as_dict(), "blob": blob_report(device)}
    else:
        data = inspect_image(Path(image)).as_dict()
    if settings.raw:
        render.emit_json(data)
        return 0
    _render_inspection(data)
    return 0


def _render_inspection(data: dict[str, Any]) -> None:
    fmt = data["format"]
    rows: list[tuple[str, str]] = [
        ("image", fmt["path"]),
        *([("read", read_line(data["blob"]))] if "blob" in data else []),
        ("format", f"{fmt['type']}, {fmt['virtual_size_bytes']:,} bytes, {fmt['partition_table']} partition table"),
        ("root", f"{fmt['root']['location']} ({fmt['root']['filesystem']})"),
    ]
    for problem in fmt["azure_problems"]:
        fix = f"; fix: {problem['fix']}" if problem.get("fix") else ""
        rows.append(("azure", f"{problem['id']}: {problem['message']}{fix}"))
    os_facts = data["os"] or {}
    rows.append(("os", f"{os_facts.get('name') or os_facts.get('id') or 'unknown'} (family {os_facts.get('family')})"))
    rows.append(("node agent", data["node_agent"] or "none matches"))
    packages = data["packages"]
    rows.append(("packages", f"{len(packages['versions'])} ({packages['manager']})" if packages else "unknown"))
    binaries = data["binaries"]
    if binaries:
        rows.append(("binaries", ", ".join(sorted(binaries["found"])) or "none"))
    services = data["services"]
    if services:
        enabled = sorted(
            name for name, unit in services["units"].items()
            if unit["enabled"] and not unit["alias_of"] and name.endswith((".service", ".socket"))
        )
        rows.append(("enabled units", ", ".join(enabled) or "none"))
    rows += boot_rows(data)
    sshd = data["sshd"]
    if sshd:
        rows.append(("sshd ports", ", ".join(map(str, sshd["ports"]))))
    docker = data["docker"]
    if docker:
        rows.append(("docker", f"data-root {docker['data_root'] or '/var/lib/docker'}, runtimes "
                     f"{', '.join(docker['runtimes']) or 'default'}"))
    # The values are read from the image (PRETTY_NAME, unit names): shown as written, never as rich markup.
    render.table(None, ("", ""), rows, header=False)


def boot_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The inspection's boot section: kernel, initramfs, bootloader, generation, command line."""
    from shipyard.facts.boot import HYPERV_MODULES

    boot = data.get("boot")
    if boot is None:
        return [("boot", "unknown (the boot files could not be read)")]
    kernel = next((k for k in boot["kernels"] if k["version"] == boot["default_kernel"]), None)
    how = f"; {boot['default_reason']}" if boot.get("default_reason") else ""
    rows = [("boot kernel", f"{kernel['version']}, {kernel['path']}{how}" if kernel else "none found")]
    initramfs = kernel["initramfs"] if kernel else None
    if kernel is not None:
        in_initramfs: list[str] = []
        if initramfs is None:
            rows.append(("initramfs", "none"))
        elif initramfs["modules"] is None:
            rows.append(("initramfs", f"{initramfs['path']}: unreadable ({initramfs['error']})"))
        else:
            in_initramfs = [m for m in HYPERV_MODULES if m in initramfs["modules"]]
            rows.append(("initramfs", f"{initramfs['path']} ({'+'.join(initramfs['segments'])}, "
                         f"{len(initramfs['modules'])} modules)"))
        builtin = [m for m in HYPERV_MODULES if m in (kernel.get("builtin_modules") or ())]
        rows.append(("hyper-v", ", ".join([f"{m} (built in)" for m in builtin]
                                          + [f"{m} (initramfs)" for m in in_initramfs if m not in builtin])
                     or "none at boot"))
    loader = boot["bootloader"]
    described = loader["kind"] or "none found"
    if loader["config_files"]:
        described += f" ({', '.join(loader['config_files'])})"
    if loader["efi_loaders"]:
        described += f"; EFI: {', '.join(loader['efi_loaders'])}"
    rows.append(("bootloader", described))
    generation = data.get("generation")
    if generation is not None:
        gens = " and ".join(map(str, generation["generations"])) or "none"
        rows.append(("generation", f"{gens}: {generation['reason']}"))
    source = f" (from {boot['cmdline_source']})" if boot.get("cmdline_source") else ""
    rows.append(("command line", f"{boot['cmdline']}{source}" if boot["cmdline"] is not None else "none found"))
    return rows


@image_group.command("check")
@click.argument("image")
@check_options
@global_options
@pass_settings
def check(
    settings: Settings, image: str, vm_size: str | None, node_agent: str | None,
    skip_checks: tuple[str, ...], fail_level: str,
) -> int:
    """Run every custom-image rule on IMAGE before it is uploaded, or where it was uploaded to.

    IMAGE is a file, or a page blob's bare storage URI read in place (see `image inspect`).
    Without a pool spec (--configdir or --pool) the size-dependent rules skip unless --vm-size
    is given. Exits 0 when nothing at or above the fail level fails, 1 when something does.
    """
    from shipyard.checks.image import check_image

    validate_skips(skip_checks)
    if not is_storage_uri(image):
        results = check_image(Path(image), pool_context(settings, vm_size, node_agent), skip=skip_checks)
        return render_results("image", str(Path(image)), results, fail_level, settings.raw)
    from shipyard.storage.blob_open import blob_report

    config = load_config(settings)
    device = open_blob_image(settings, image, config)
    results = check_image(device, pool_context(settings, vm_size, node_agent, config), skip=skip_checks)
    report = blob_report(device)
    if not settings.raw:
        render.line(f"read: {read_line(report)}")
    return render_results("image", device.name, results, fail_level, settings.raw, extra={"blob": report})


@image_group.command("convert")
@click.argument("src", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
@click.option("--size", "size", metavar="SIZE", help="Grow the virtual disk to SIZE (e.g. 20M); default: the source's.")
@global_options
@pass_settings
def convert(settings: Settings, src: Path, dst: Path, overwrite: bool, size: str | None) -> int:
    """Convert a raw or dynamic VHD image to a fixed VHD rounded up to 1 MiB (sparse).

    A fixed VHD whose footer checksum is bad is repaired (the data is copied, the footer
    rewritten). VHDX, qcow2, VMDK and VDI are refused with the qemu-img command that converts
    them; a truncated source is refused with the number of bytes missing.
    """
    from shipyard.image.convert import convert_image

    size_bytes = parse_size(size) if size else None
    with progress_bar(f"converting {src.name}", enabled=not settings.raw) as update:
        convert_image(src, dst, overwrite=overwrite, size_bytes=size_bytes, progress=update)
    return report_written(settings, src, dst)


def report_written(settings: Settings, source: Path, dst: Path, detail: str = "") -> int:
    """What `convert` and `build` print: the new image, read back from disk."""
    from shipyard.image.disk import open_disk

    with open_disk(dst) as disk:
        summary = {"source": str(source), "path": str(dst), "format": disk.format, "size_bytes": disk.size_bytes}
    if settings.raw:
        render.emit_json(summary)
    else:
        render.line(f"wrote {dst}: fixed VHD, {summary['size_bytes']:,} bytes{detail}")
    return 0


@image_group.command("build")
@click.argument("rootfs_dir", type=click.Path(path_type=Path))
@click.argument("dst", type=click.Path(path_type=Path))
@click.option("--size", "size", metavar="SIZE", help="Virtual disk size (e.g. 30G); default: the tree plus headroom.")
@click.option("--label", default="rootfs", show_default=True, help="Filesystem label.")
@click.option("--uuid", "fs_uuid", metavar="UUID", help="The root filesystem's UUID (as /etc/fstab's UUID= names it); "
              "default: random.")
@click.option("--table", type=click.Choice(["mbr", "gpt"]), default="mbr", show_default=True, help="Partition table.")
@click.option("--esp", "esp", metavar="SIZE", help="GPT: add an EFI system partition of SIZE (Generation 2), FAT "
              "filled from ROOTFS/boot/efi, which stays an empty mount point.")
@click.option("--esp-label", metavar="LABEL", help="The EFI system partition's FAT label (e.g. UEFI).")
@click.option("--esp-uuid", metavar="XXXX-XXXX", help="The EFI system partition's FAT volume ID; default: random.")
@click.option("--bios-boot", is_flag=True, help="GPT: add a 1 MiB BIOS boot partition, for GRUB on BIOS "
              "(Generation 1).")
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
@global_options
@pass_settings
def build(
    settings: Settings, rootfs_dir: Path, dst: Path, size: str | None, label: str, fs_uuid: str | None, table: str,
    esp: str | None, esp_label: str | None, esp_uuid: str | None, bios_boot: bool, overwrite: bool
) -> int:
    """Turn a root filesystem directory into an Azure-ready fixed VHD (ext4, no root needed).

    With --table gpt, --esp and --bios-boot lay the disk out as Debian's and Ubuntu's cloud
    images do: BIOS boot (partition 14) and EFI system (15) first, the root (1) after them.
    """
    from shipyard.image.build import build_image

    size_bytes = parse_size(size) if size else None
    esp_bytes = parse_size(esp, "--esp") if esp else None
    with progress_bar(f"building {dst.name}", enabled=not settings.raw) as update:
        build_image(rootfs_dir, dst, size_bytes, label=label, table=table, overwrite=overwrite, progress=update,
                    fs_uuid=fs_uuid, esp_bytes=esp_bytes, esp_label=esp_label, esp_uuid=esp_uuid,
                    bios_boot=bios_boot)
    return report_written(settings, rootfs_dir, dst, _layout_detail(dst))


def _layout_detail(dst: Path) -> str:
    """", gpt: 1 ext4 root at 3 MiB, 14 bios-boot (1 MiB), 15 efi (100 MiB)", read back from the table."""
    from shipyard.image.disk import open_disk
    from shipyard.image.partitions import read_partition_table

    with open_disk(dst) as disk:
        table = read_partition_table(disk)
    parts = [f"{p.index} ext4 root at {p.start_bytes >> 20} MiB" if p.index == 1 else
             f"{p.index} {p.type_name} ({p.size_bytes >> 20} MiB)" for p in table.partitions]
    return f", {table.scheme}: {', '.join(parts)}"


# Storage commands live in their own module; they join the `image` group here.
from shipyard.cli.image_packer_cmd import packer  # noqa: E402
from shipyard.cli.image_publish_cmd import publish  # noqa: E402
from shipyard.cli.image_verify_cmd import verify  # noqa: E402
from shipyard.cli.storage_cmd import replicate, upload  # noqa: E402

image_group.add_command(upload)
image_group.add_command(replicate)
image_group.add_command(verify)
image_group.add_command(publish)
image_group.add_command(packer)


from shipyard.cli.image_cache_cmd import cache_group  # noqa: E402 - `image cache` joins here

image_group.add_command(cache_group)

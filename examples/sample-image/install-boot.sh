#!/bin/sh
# Give the root ROOT the boot chain a real Azure image has, from Debian's own files, without root:
#
#   /boot/vmlinuz-ABI, /boot/config-ABI    Debian 12's cloud kernel (get-kernel.sh), whose Hyper-V
#                                          drivers are modules (CONFIG_HYPERV=m)
#   /usr/lib/modules/ABI/                  modules.builtin, modules.order, the Hyper-V drivers and
#                                          what they depend on, and modules.dep (busybox depmod)
#   /boot/initrd.img-ABI                   an initramfs: busybox, an /init that loads the Hyper-V
#                                          drivers and switches to the root by UUID, those modules;
#                                          `cpio -H newc` and gzip (initramfs-tools' COMPRESS=gzip),
#                                          both busybox's
#   /boot/grub/grub.cfg, /etc/default/grub GRUB's menu for that kernel: root=UUID=..., the serial
#                                          console on ttyS0 (Azure's recommended command line)
#   /boot/efi/EFI/BOOT/BOOTX64.EFI          GRUB's EFI loader (Debian's grub-efi-amd64-bin), and
#   /boot/efi/EFI/debian/grub.cfg          the stub that hands over to /boot/grub/grub.cfg; the
#                                          EFI system partition `image build --esp` makes of it
#   /etc/fstab                             the root and the EFI system partition, by UUID
#
# The UUIDs are those in root-uuid and esp-uuid beside this script: `image build` must give the
# filesystems those (--uuid, --esp-uuid), as demo/run.sh does. BUSYBOX is the static busybox
# (default: ROOT/usr/bin/busybox, which install-busybox.sh put there). Exits as get-deb.sh does
# when a package cannot be had (3: run `apt-get update`).
set -eu
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 ROOT [BUSYBOX]" >&2
  exit 2
fi
root=$1
here=$(cd "$(dirname "$0")" && pwd)
busybox=${2:-$root/usr/bin/busybox}
if [ ! -x "$busybox" ]; then
  echo "$0: $busybox is not an executable busybox" >&2
  exit 2
fi
busybox=$(cd "$(dirname "$busybox")" && pwd)/$(basename "$busybox")   # the steps below change directory
uuid=$(cat "$here/root-uuid")
esp_uuid=$(cat "$here/esp-uuid")
kernel=$("$here/get-kernel.sh")
grub_efi=$("$here/get-deb.sh" grub-efi-amd64-bin)/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi
version=$(ls "$kernel/lib/modules")
src=$kernel/lib/modules/$version
bb() { "$busybox" "$@"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

# the Hyper-V drivers and, recursively, the modules they depend on (from each .ko's modinfo)
module_path() { (cd "$src" && bb find kernel -name "$1.ko" | bb head -n 1); }
needed=
add_module() {
  case " $needed " in *" $1 "*) return 0 ;; esac
  needed="$needed $1"
  file=$(module_path "$1")
  [ -n "$file" ] || { echo "$0: module $1 is not in $src" >&2; exit 1; }
  deps=$(bb tr '\0' '\n' <"$src/$file" | bb sed -n 's/^depends=//p' | bb tr ',' ' ')
  for dep in $deps; do add_module "$dep"; done
}
for module in hv_vmbus hv_storvsc hv_netvsc hv_utils; do add_module "$module"; done

modules_into() {  # modules_into BASE: the modules tree of ABI under BASE/usr/lib/modules
  mkdir -p "$1/usr/lib/modules/$version"
  cp "$src/modules.builtin" "$src/modules.order" "$1/usr/lib/modules/$version/"
  for module in $needed; do
    file=$(module_path "$module")
    mkdir -p "$1/usr/lib/modules/$version/$(dirname "$file")"
    cp "$src/$file" "$1/usr/lib/modules/$version/$file"
  done
  bb depmod -b "$1" "$version"   # BASE/lib/modules/ABI: lib is a link to usr/lib
}
modules_into "$root"
cp "$src/modules.builtin.modinfo" "$root/usr/lib/modules/$version/"
mkdir -p "$root/boot/grub" "$root/boot/efi/EFI/BOOT" "$root/boot/efi/EFI/debian" "$root/etc/default"
cp "$kernel/boot/vmlinuz-$version" "$kernel/boot/config-$version" "$root/boot/"

# the initramfs: busybox, /init, the modules
initramfs=$work/initramfs
mkdir -p "$initramfs/usr/bin" "$initramfs/dev" "$initramfs/proc" "$initramfs/sys" "$initramfs/root"
ln -s usr/bin "$initramfs/bin"
ln -s usr/bin "$initramfs/sbin"
ln -s usr/lib "$initramfs/lib"
cp "$busybox" "$initramfs/usr/bin/busybox"
for applet in sh mount modprobe switch_root sleep; do ln -s busybox "$initramfs/usr/bin/$applet"; done
cat >"$initramfs/init" <<EOF
#!/bin/sh
# load Azure's disk and network drivers, then boot the root filesystem by UUID
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in hv_vmbus hv_storvsc hv_netvsc hv_utils; do modprobe "\$module"; done
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/disk/by-uuid/$uuid ] && break; sleep 1; done
mount -o ro UUID=$uuid /root || mount -o ro /dev/sda1 /root
exec switch_root /root /sbin/init
EOF
chmod 755 "$initramfs/init"
modules_into "$initramfs"
(cd "$initramfs" && bb find . | bb sort | bb cpio -o -H newc 2>/dev/null) | bb gzip -9 >"$root/boot/initrd.img-$version"

cmdline="console=tty0 console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300"
cat >"$root/etc/default/grub" <<EOF
# Azure's recommended kernel command line: the serial console on ttyS0, a long root delay
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="$cmdline"
GRUB_TERMINAL="console serial"
EOF
cat >"$root/boot/grub/grub.cfg" <<EOF
#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s \$prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "\${next_entry}" ] ; then
   set default="\${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi
terminal_input console serial
terminal_output console serial
set timeout=1
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/10_linux ###
menuentry 'Ubuntu' --class ubuntu --class gnu-linux --class gnu --class os \$menuentry_id_option 'gnulinux-simple-$uuid' {
	insmod gzio
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root $uuid
	echo	'Loading Linux $version ...'
	linux	/boot/vmlinuz-$version root=UUID=$uuid ro $cmdline
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-$version
}
### END /etc/grub.d/10_linux ###
EOF
cp "$grub_efi" "$root/boot/efi/EFI/BOOT/BOOTX64.EFI"
cat >"$root/boot/efi/EFI/debian/grub.cfg" <<EOF
search.fs_uuid $uuid root
set prefix=(\$root)'/boot/grub'
configfile \$prefix/grub.cfg
EOF
cat >"$root/etc/fstab" <<EOF
# <file system> <mount point> <type> <options> <dump> <pass>
UUID=$uuid / ext4 rw,discard,errors=remount-ro 0 1
UUID=$esp_uuid /boot/efi vfat umask=0077 0 1
EOF

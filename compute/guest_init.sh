#!/bin/busybox sh
# /init of Ember's guest: load the virtio disk driver, run /ember/command with
# its output on the second serial port, report its exit status on the console,
# and power off (QEMU runs with -no-reboot, so a reboot ends it).
/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# In the order the image was built with (guest_image.MODULES): each needs the ones before it.
for module in $(cat /lib/modules/order); do
    insmod "/lib/modules/$module.ko" || echo "ember-guest: cannot load $module" > /dev/console
done
# The disk appears once virtio_blk has probed it; that is not synchronous.
tries=0
while [ ! -b /dev/vda ] && [ $tries -lt 100 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
[ -b /dev/vda ] || echo "ember-guest: no disk /dev/vda" > /dev/console
# Raw, so that the command's bytes reach the host unchanged (no \r\n).
stty -F /dev/ttyS1 raw -echo
. /ember/env
cd /tmp
sh /ember/command < /dev/null > /dev/ttyS1 2>&1
status=$?
sync
echo "ember-exit $status" > /dev/console
reboot -f

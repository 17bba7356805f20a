"""The compute host's side of an attachment: a small guest image built from
Debian packages, and QEMU booting it with an attached volume as its disk."""

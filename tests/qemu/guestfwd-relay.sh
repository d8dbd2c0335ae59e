#!/bin/sh
# guestfwd-relay.sh PORT: QEMU's slirp runs this once per guest TCP connection to
# 10.0.2.100:<guest port> (guestfwd=...-cmd:), with the connection on stdin/stdout, and it
# relays to 127.0.0.1:PORT -- never anywhere else.
#
# busybox's nc, not netcat-openbsd's: Debian's netcat-openbsd does not pass on the server's
# close while its stdin is open (the guest would never see the target drop a connection),
# and socat holds the other half open for its -t delay after a half-close. busybox nc exits
# when the server closes (the guest sees FIN at once), and on the guest's half-close it shuts
# down the write side towards the server and still relays the reply.
# stderr is the guest's connection too: keep nc's messages (e.g. "can't connect") off it.
case "$1" in ''|*[!0-9]*) exit 2 ;; esac
exec busybox nc 127.0.0.1 "$1" 2>/dev/null

#!/bin/sh
# Produce the expectations of the recorded-terminal tests from tmux, the reference terminal.
#
# For each NAME.bin (all of them, or those named), the bytes are written into a tmux pane of
# the same size the recording was made in (160x24), then:
#   NAME.lines   <- capture-pane -p -J -S - -E -   (history + screen, wrapped lines joined)
#   NAME.screen  <- capture-pane -p                (the visible screen, alternate or not)
#
# One deliberate difference is applied to the input: ESC [ 3 J (erase scrollback) is removed,
# because the renderer never withdraws output already saved (see README.md).
#
# Usage: ./tmux-reference.sh [NAME...]      (tmux 3.3a from Debian was used)
set -eu
cd "${RECORDINGS:-$(dirname "$0")}"
COLS=${COLS:-160}
ROWS=${ROWS:-24}
SOCK="sshpty-ref-$$"
CONF="$(mktemp)"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; rm -f "$CONF" "$CONF".in' EXIT
cat >"$CONF" <<EOF
set -g history-limit 1000000
set -g status off
set -g default-size ${COLS}x${ROWS}
EOF

if [ $# -eq 0 ]; then
    set -- $(ls *.bin | sed 's/\.bin$//')
fi

for name in "$@"; do
    # Strip ESC [ 3 J (see above).
    python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read().replace(b"\x1b[3J", b""))' \
        "$name.bin" >"$CONF.in"
    # The pane runs cat with its tty raw, so the bytes reach tmux unchanged (no \n -> \r\n).
    LANG=C.UTF-8 LC_ALL=C.UTF-8 tmux -L "$SOCK" -f "$CONF" new-session -d -x $COLS -y $ROWS \
        "stty raw -echo -onlcr; cat '$CONF.in'; tmux wait-for -S fed; sleep 100000"
    size=$(tmux -L "$SOCK" display -p '#{pane_width}x#{pane_height}')
    [ "$size" = "${COLS}x${ROWS}" ] || { echo "pane is $size, not ${COLS}x${ROWS}" >&2; exit 1; }
    tmux -L "$SOCK" wait-for fed
    # Let tmux finish parsing what cat wrote before it signalled.
    sleep 0.5
    tmux -L "$SOCK" capture-pane -p -J -S - -E - >"$name.lines"
    tmux -L "$SOCK" capture-pane -p >"$name.screen"
    tmux -L "$SOCK" kill-server
    echo "$name: $(wc -l <"$name.lines") lines"
done

#!/usr/bin/env bash
# Installs the Debian packages the tests need (Chromium for the browser tests, and the packages
# whose photos engine_eval measures the local engine on) when they are
# missing. Needs root (or passwordless sudo); otherwise says what to install.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
# Real photos for `manage.py engine_eval` (processing/engines/photoset.py; ~65 MB together).
[ -f /usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg ] || missing+=(lomiri-wallpapers-16.04)
[ -f /usr/share/backgrounds/mate/nature/Storm.jpg ] || missing+=(mate-backgrounds)
[ -f /usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg ] || missing+=(python-matplotlib-data)
source "$(dirname "$0")/apt-install.sh"
apt_install "${missing[@]}"

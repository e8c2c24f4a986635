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
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "Please install these Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
echo "Installing ${missing[*]} ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

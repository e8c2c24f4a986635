# Sourced by system-deps.sh and loadtest-deps.sh: apt_install PKG... installs the Debian packages
# given (root or passwordless sudo), or says what to install and fails.
apt_install() {
  [ $# -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "Please install these Debian packages: $* (apt-get install $*)" >&2
      return 1
    fi
  fi
  echo "Installing $* ..."
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # Only the packages asked for: a package's own service (nginx) is not started for us.
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

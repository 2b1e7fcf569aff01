#!/bin/sh
# Latchkey no longer handles dev.latchkey.desktop:// links from here;
# its desktop entry is gone. Refresh the desktop's handler cache
# and the icon cache. (User data in ~/.local/share/latchkey stays.)
set -e
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0

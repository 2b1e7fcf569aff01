#!/bin/sh
# Latchkey handles dev.latchkey.desktop:// links through its desktop entry
# (MimeType=x-scheme-handler/dev.latchkey.desktop); refresh the cache the
# desktop reads handlers from, and the icon cache.
set -e
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q /usr/share/applications || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
fi
exit 0

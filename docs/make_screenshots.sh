#!/usr/bin/env bash
# Regenerate the README's pictures from the current code (make screenshots), at
# 1366×768, the smallest screen ketamon is laid out for, with a high alert active
# and long messages showing (docs/pressure_screenshot.py charts them first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export QT_QPA_PLATFORM=offscreen
export KETAMON_DATA_DIR=$(mktemp -d)
trap 'rm -rf "$KETAMON_DATA_DIR"' EXIT
DB="$KETAMON_DATA_DIR/demo.sqlite3"

SIZE=${SIZE:-1366x768}
$PY docs/pressure_screenshot.py docs/screenshot-chart.png "$SIZE"
KETAMON_USER=doctor $PY -m ketamon --demo --screenshot docs/screenshot-review.png --page "Alert review" --size "$SIZE"
KETAMON_USER=desk $PY -m ketamon --demo --screenshot docs/screenshot-records.png --page Records --size "$SIZE"

signed=$($PY - "$DB" <<'PY'
import sys
from sqlalchemy import select
from ketamon.core.models import Session
from ketamon.core.store import Store
with Store(f"sqlite:///{sys.argv[1]}").read() as db:
    print(db.scalar(select(Session.id).where(Session.state == "signed").order_by(Session.id)))
PY
)
# the command line signs in like the app: the demo front desk's documented password
echo desk-demo | $PY -m ketamon report "$signed" --pdf "$KETAMON_DATA_DIR/summary.pdf" --db "$DB" --user desk --password-stdin
echo desk-demo | $PY -m ketamon report "$signed" --pdf "$KETAMON_DATA_DIR/form.pdf" --form --db "$DB" --user desk --password-stdin
pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$KETAMON_DATA_DIR/summary.pdf" docs/summary-page1
pdftoppm -png -r 60 -f 1 -l 1 -singlefile "$KETAMON_DATA_DIR/form.pdf" docs/form-page1
echo "screenshots written to docs/"

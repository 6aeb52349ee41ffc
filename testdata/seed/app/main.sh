#!/bin/sh
# Stands in for `python main.py`: its greeting comes from the image's ENV, its version from a
# file of the app, and the flask version from what pip installed into the base image.
set -eu
flask=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' /usr/lib/python3/site-packages/flask/__init__.py)
echo "$APP_GREETING $(cat VERSION) on port $APP_PORT (flask $flask)"

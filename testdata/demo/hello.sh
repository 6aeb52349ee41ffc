#!/bin/sh
echo "$1 from cbuild"

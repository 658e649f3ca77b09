#!/bin/sh
# SPDX-License-Identifier: ISC
# autogen.sh: generate ./configure and the Makefile.in files from a git checkout.
# Needs autoconf, automake and pkg-config (Debian: autoconf automake pkg-config).
set -e
cd "$(dirname "$0")"
exec autoreconf -fi

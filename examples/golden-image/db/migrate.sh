#!/bin/sh
# Runs on the deploying machine when the database server is replaced, after its data
# volume moved to the new server and before the old one is terminated. infradsl sets
# INFRADSL_OLD_* and INFRADSL_NEW_* (ID, PRIVATE_IP, AVAILABILITY_ZONE...).
set -eu
echo "moving the database from $INFRADSL_OLD_ID ($INFRADSL_OLD_PRIVATE_IP) to $INFRADSL_NEW_ID ($INFRADSL_NEW_PRIVATE_IP)"
# A real migration would wait for postgres on the new server, check the data, and switch
# a DNS name or a config value over to the new address here.

#!/usr/bin/env node
/** The `realip` command. */
console.log('realip');

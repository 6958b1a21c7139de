#!/usr/bin/env node
// Entry point of the `punchr` command. The TypeScript sources are compiled to dist/ by
// `npm run build` (run by `npm install` through the `prepare` script).
import '../dist/src/cli/main.js'

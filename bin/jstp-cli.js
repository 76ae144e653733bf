#!/usr/bin/env node
// The jstp-cli bin: the built CLI (npm run build makes dist/).
import "../dist/esm/cli/main.js"

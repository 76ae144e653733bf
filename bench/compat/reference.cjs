'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, as 2.x users write it */

// An entry of the compat benchmark's program (bench/compat/program.cjs):
// ours.cjs and reference.cjs differ only in the require line below.
const program = require('./program.cjs');

program.main(program.loadQuietly(() => require('@metarhia/jstp')));

// The browser test binary: one chromium and one static server for every spec.
process.env.TZ = 'Asia/Seoul'; // the browser's time zone too, so expected clock times agree
// Run through run.sh (or `node --test ui.test.mjs` here with the dependencies installed).

import { after, before } from 'node:test';
import { setup, teardown } from './lib/harness.mjs';
import { shellSpecs } from './specs/shell.mjs';
import { registerSpecs } from './specs/register.mjs';
import { campaignSpecs } from './specs/campaigns.mjs';
import { lineSpecs } from './specs/line.mjs';
import { walletSpecs } from './specs/wallet.mjs';
import { settingsSpecs } from './specs/settings.mjs';
import { matrix } from './specs/matrix.mjs';

before(setup);
after(teardown);

const only = process.env.LINEUP_UI_ONLY; // e.g. "behaviour" or "matrix" while iterating
if (only !== 'matrix') {
  shellSpecs();
  registerSpecs();
  campaignSpecs();
  lineSpecs();
  walletSpecs();
  settingsSpecs();
}
if (only !== 'behaviour') matrix();

// Launching Debian's /usr/bin/chromium for the e2e drivers (run.mjs, landing.mjs, media.mjs).
//
// Chromium 148 on this CI image now and then dies with SIGSEGV while it starts, before it
// has opened a page or run a line of ours: playwright then rejects the launch with
// "Target page, context or browser has been closed" and the process exit is
// signal=SIGSEGV. It happened once in one full CI run and never in 210 launches on a
// quiet or CPU-loaded machine here; it is the browser's, not the suite's. A launch that fails that way is started again, at most LAUNCH_ATTEMPTS times in
// all, and every failed attempt is reported on stderr as a "driver:" line (the Go side
// prints those with the scenario's log). Nothing after the launch is ever retried: a
// browser that crashes once a job runs fails that job.

import { mkdirSync, rmSync } from "node:fs";

export const LAUNCH_ATTEMPTS = 3;

// launch starts Chromium with playwright-core. With userDataDir it returns a persistent
// context (its first page is about:blank), otherwise a Browser. options go to playwright.
export async function launch({ executablePath, userDataDir, options, log }) {
	const { chromium } = await import("playwright-core").catch((err) => {
		throw new Error(`cannot load playwright-core (run \`npm ci\` in e2e/): ${err.message}`);
	});
	for (let attempt = 1; ; attempt++) {
		try {
			const opts = { executablePath, headless: true, timeout: 30000, ...options };
			return userDataDir ? await chromium.launchPersistentContext(userDataDir, opts) : await chromium.launch(opts);
		} catch (err) {
			const msg = String(err?.message ?? err);
			// Only a browser that went away during its own start-up is started again; a
			// missing executable, bad arguments or a launch timeout fail at once.
			const died = /has been closed|Browser closed|process did exit|signal=SIG/.test(msg);
			if (!died || attempt >= LAUNCH_ATTEMPTS) throw err;
			if (userDataDir) {
				// The dead browser's profile (and its SingletonLock) is not reused.
				rmSync(userDataDir, { recursive: true, force: true });
				mkdirSync(userDataDir);
			}
			log(`driver: chromium died while starting (attempt ${attempt} of ${LAUNCH_ATTEMPTS}), starting it again: ${msg.split("\n").find((l) => /signal=|closed/.test(l))?.trim() ?? msg.split("\n")[0]}`);
		}
	}
}

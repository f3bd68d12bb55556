import { accessSync, constants } from 'node:fs';

const SYSTEM_CHROMIUM = '/usr/bin/chromium';

/** How the tests and the benchmark start it: headless, quiet, nothing fetched from the network. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * The Chromium the dashboard tests and benchmark drive (playwright-core downloads nothing):
 * `GITSYNC_CHROMIUM` if set; else Debian's `/usr/bin/chromium`; else (or with
 * `GITSYNC_TEST_BUNDLED_CHROMIUM=1`) the build that `@sparticuz/chromium` ships inside its npm
 * package, unpacked on first use.
 */
export async function chooseChromium(): Promise<{ path: string; description: string }> {
  const configured = process.env.GITSYNC_CHROMIUM;
  if (configured) return { path: configured, description: `${configured} (GITSYNC_CHROMIUM)` };
  if (process.env.GITSYNC_TEST_BUNDLED_CHROMIUM !== '1' && isExecutable(SYSTEM_CHROMIUM)) {
    return { path: SYSTEM_CHROMIUM, description: SYSTEM_CHROMIUM };
  }
  const { default: bundled } = await import('@sparticuz/chromium');
  const path = await bundled.executablePath();
  return { path, description: `${path}, unpacked from the @sparticuz/chromium package` };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

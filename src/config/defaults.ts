// The defaults of the settings the CLI needs without loading the whole configuration (which loads
// every provider): where the service listens and where its files live.
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 7420;
export const DEFAULT_DATA_DIR = '.gitsync';
export const DEFAULT_SERVICE_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

import { CliError, callService, EXIT, serviceTarget } from './client.ts';

export interface TokenOptions {
  url?: string;
  key?: string;
  owner: string;
  provider: string;
  token?: string;
}

/**
 * The token never comes from a flag: process arguments are visible to every local user (`ps`,
 * /proc/<pid>/cmdline) and stay in shell history. (`serviceTarget` refuses `--key` likewise.)
 */
function refuseTokenFlag(options: TokenOptions): void {
  if (options.token !== undefined) {
    throw new CliError(
      '--token is refused: process arguments are visible to other users; give the token on standard input (e.g. `gitsync token set … < token.txt`)',
      EXIT.usage,
    );
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError('give the token on standard input', EXIT.usage);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** `gitsync token set`: links an owner's code-host token (read from stdin so it stays out of shell history). */
export async function setToken(options: TokenOptions): Promise<void> {
  refuseTokenFlag(options);
  const target = serviceTarget(options);
  const token = await readStdin();
  if (!token) throw new CliError('the token is empty', EXIT.usage);
  await callService(target, (api) => api.setToken(options.owner, options.provider, { token }));
  process.stdout.write(`token stored for owner ${options.owner} on ${options.provider}\n`);
}

export async function removeToken(options: TokenOptions): Promise<void> {
  refuseTokenFlag(options);
  await callService(serviceTarget(options), (api) => api.removeToken(options.owner, options.provider));
  process.stdout.write(`token removed for owner ${options.owner} on ${options.provider}\n`);
}

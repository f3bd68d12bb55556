import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { type ApiAnswer, createClient, GitsyncUnreachableError } from '../api/client.ts';
import { type CallApi, createToolServer } from '../server/mcp/tools.ts';
import { type ServiceOptions, serviceTarget } from './client.ts';

/**
 * `gitsync mcp`: gitsync's MCP tools over stdio, for agents that start their MCP servers as
 * commands. Each tool call is forwarded to the service named by GITSYNC_URL (or --url) with the
 * key in GITSYNC_API_KEY — the same answers and errors as `POST /mcp` there. Standard output
 * carries the protocol only; notices go to standard error, and the key is never written anywhere.
 */
export async function mcp(options: ServiceOptions): Promise<void> {
  // No key: refused at once with a message naming the variable (the client shows it).
  const target = serviceTarget(options);
  const api = createClient({ url: target.url, key: target.key });
  const callApi: CallApi = async (request) => {
    let answer: ApiAnswer;
    try {
      answer = await api.request(request);
    } catch (error) {
      if (error instanceof GitsyncUnreachableError)
        throw new Error(`${error.message}; is it running? (GITSYNC_URL)`);
      throw error;
    }
    if (answer.status === 401) {
      // The API's own message says a key is required; this says which one to look at.
      answer.json = {
        error: { code: 'unauthorized', message: `gitsync at ${target.url} refused GITSYNC_API_KEY` },
      };
    }
    return answer;
  };

  // Told once at start, so a misconfigured URL shows in the agent's MCP log rather than only as
  // failing tool calls later; the server serves either way (the service may start after it).
  void fetch(`${target.url}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
    (res) => {
      if (!res.ok) process.stderr.write(`gitsync mcp: ${target.url}/healthz answered ${res.status}\n`);
    },
    (error: Error) =>
      process.stderr.write(
        `gitsync mcp: cannot reach gitsync at ${target.url} (${error.message}); tool calls will fail until it answers (GITSYNC_URL)\n`,
      ),
  );

  const handle = serveStdio(() => createToolServer(callApi), {
    onerror: (error) => process.stderr.write(`gitsync mcp: ${error.message}\n`),
  });
  await new Promise<void>((resolve) => {
    const stop = () => void handle.close().finally(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // The client closed our standard input: the session is over.
    process.stdin.once('end', stop);
    process.stdin.once('close', stop);
  });
}

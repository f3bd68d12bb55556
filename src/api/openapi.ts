/**
 * The OpenAPI 3.1 document of the HTTP service, generated from `OPERATIONS` and the zod schemas
 * the routes validate with (`z.toJSONSchema`): requests as the routes read them (`io: 'input'`),
 * answers as they are written (`io: 'output'`). Named schemas (`.meta({ id })`) become
 * `components.schemas`.
 */
import { z } from 'zod';
import { errorsOf, OPERATIONS, type Operation } from './operations.ts';
import { type ApiErrorCode, changeEvent, errorEnvelope } from './schemas.ts';

type Json = Record<string, unknown>;

const COMPONENTS = '#/components/schemas/';

/** JSON Schemas of zod schemas, named ones gathered once for `components.schemas`. */
class SchemaSet {
  readonly components: Record<string, Json> = {};

  /** The JSON Schema of `schema`; a named one is a `$ref` to its component. */
  of(schema: z.ZodType, io: 'input' | 'output'): Json {
    // Wrapped, so that a named schema at the top is a reference like any other.
    const wrapped = z.toJSONSchema(z.object({ it: schema }), {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
    }) as unknown as Json & { properties: { it: Json }; $defs?: Record<string, Json> };
    for (const [name, def] of Object.entries(wrapped.$defs ?? {})) {
      const local = relink(def) as Json;
      const known = this.components[name];
      if (known && JSON.stringify(known) !== JSON.stringify(local))
        throw new Error(`schema ${name} differs between its uses (${io})`);
      this.components[name] = local;
    }
    return relink(wrapped.properties.it) as Json;
  }
}

/** `#/$defs/X` → `#/components/schemas/X`, everywhere in a schema. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = key === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', COMPONENTS) : relink(v);
  }
  return out;
}

const SECURITY: Record<Operation['auth'], Json[]> = {
  key: [{ apiKey: [] }],
  none: [],
  signature: [],
  // No key, or the metrics key when GITSYNC_METRICS_TOKEN is set.
  metrics: [{}, { metricsKey: [] }],
};

const RETRY_AFTER = {
  'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'string' } },
};

/** Query or path parameters from an object schema's properties. */
function parameters(schemas: SchemaSet, where: 'path' | 'query', schema: z.ZodType | undefined): Json[] {
  if (!schema) return [];
  const js = schemas.of(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === 'path' || (js.required ?? []).includes(name),
      ...(typeof description === 'string' && { description }),
      schema: rest,
    };
  });
}

function operationObject(schemas: SchemaSet, operationId: string, op: Operation): Json {
  const responses: Json = {};
  for (const [status, answer] of Object.entries(op.responses)) {
    if (!answer) continue;
    const content: Json = {};
    for (const media of [answer.media ?? 'application/json'].flat()) {
      content[media] = {
        schema: answer.schema
          ? schemas.of(answer.schema, 'output')
          : media === 'application/json'
            ? {}
            : { type: 'string' },
      };
    }
    responses[status] = { description: answer.description, ...(status !== '204' && { content }) };
  }
  for (const [status, codes] of errorsOf(op)) {
    responses[String(status)] = {
      description: `error: ${codes.join(', ')}`,
      ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
      content: {
        'application/json': {
          schema: schemas.of(errorEnvelope(codes as [ApiErrorCode, ...ApiErrorCode[]]), 'output'),
        },
      },
    };
  }
  const body = op.body
    ? {
        required: !op.bodyOptional,
        content: { 'application/json': { schema: schemas.of(op.body, 'input') } },
      }
    : op.foreignBody
      ? {
          required: true,
          description: op.foreignBody.description,
          content: { 'application/json': { schema: {} } },
        }
      : undefined;
  return {
    operationId,
    summary: op.summary,
    ...(op.description && { description: op.description }),
    tags: [...op.tags],
    security: SECURITY[op.auth],
    parameters: [...parameters(schemas, 'path', op.params), ...parameters(schemas, 'query', op.query)],
    ...(body && { requestBody: body }),
    responses,
  };
}

/** The document (built once). */
let built: Json | undefined;

export function openApiDocument(): Json {
  if (built) return built;
  const schemas = new SchemaSet();
  const paths: Record<string, Json> = {};
  for (const [operationId, op] of Object.entries(OPERATIONS) as [string, Operation][]) {
    paths[op.path] ??= {};
    (paths[op.path] as Json)[op.method] = operationObject(schemas, operationId, op);
  }
  // What each server-sent event's data holds (GET /api/v1/events).
  schemas.of(changeEvent, 'output');
  built = {
    openapi: '3.1.0',
    info: {
      title: 'gitsync',
      version: '0.1.0',
      description:
        'Keeps the pull-request status of agent chats in sync with code hosts. JSON field names are snake_case, timestamps RFC 3339 in UTC; every error is `{"error": {"code", "message"}}` with the codes each answer lists.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [...new Set(Object.values(OPERATIONS).flatMap((op) => op.tags))].map((name) => ({ name })),
    paths,
    components: {
      schemas: schemas.components,
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'an API key (admin, owner or report)' },
        metricsKey: { type: 'http', scheme: 'bearer', description: 'GITSYNC_METRICS_TOKEN, when set' },
      },
    },
  };
  return built;
}

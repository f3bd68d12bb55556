/**
 * Derives `gitlab-graphql-subset.json` from GitLab's GraphQL API reference
 * (`doc/api/graphql/reference/_index.md` in gitlab-org/gitlab, mirrored as gitlabhq/gitlabhq), keeping
 * only the types, fields and arguments gitsync's GitLab provider sends and its emulator declares: for
 * each wanted field its GraphQL type as the reference writes it (`MergeRequestConnection`,
 * `[String!]`, `Int!`), its arguments and their types, and the values of the enums those reach. No
 * description is kept: the reference's prose is CC BY-SA 4.0, names and types are facts.
 *
 * What is wanted is read from this repository, not listed by hand: every field (and argument) the
 * provider's query builders select (`src/providers/gitlab/graphql.ts`), and every field the
 * emulator's schema declares (`emulator/gitlab/graphql.ts`, `GITLAB_SDL`). A wanted field the
 * reference does not have is printed as missing, not invented.
 *
 * Not run by tests. Run it again after fetching the reference (or excerpts of it holding the wanted
 * types' sections, in the reference's own markdown):
 *
 *   node --import tsx emulator/gitlab/schema/extract.ts /path/to/_index.md <commit> <date>
 *
 * The reference's layout (as `tooling/graphql/docs/templates/default.md.haml` renders it): a heading
 * per type (`### \`MergeRequest\``, or `#### ` under "Connections"), a field table (`| Name | Type |
 * Description |`, rows `| <a id=…></a>\`name\` | [\`Type!\`](#type) | … |`), then a heading per field
 * that takes arguments (`##### \`Project.mergeRequests\``, or `### \`Query.project\``) with a
 * `Returns [\`Type\`](#type).` line and an "Arguments" table; an enum's table is `| Value |
 * Description |`. A connection field (its description says "(see [Connections](#connections))", or
 * "This field returns a [connection]") also takes the four pagination arguments.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  buildSchema,
  getNamedType,
  isEnumType,
  isObjectType,
  Kind,
  parse,
  type SelectionSetNode,
} from 'graphql';
import { candidatesQuery, feedbackQuery, pullsQuery } from '../../../src/providers/gitlab/graphql.ts';
import { GITLAB_SDL } from '../graphql.ts';

export interface FixtureField {
  type: string;
  args?: Record<string, string>;
}
export interface FixtureType {
  fields?: Record<string, FixtureField>;
  enumValues?: string[];
}
export interface Fixture {
  source: Record<string, string>;
  types: Record<string, FixtureType>;
}

/** The four pagination arguments every connection field takes (the reference's "Connections"). */
const PAGINATION = { after: 'String', before: 'String', first: 'Int', last: 'Int' } as const;

/** Every type, field and enum the reference describes, in the shape of the fixture. */
export function parseReference(markdown: string): Record<string, FixtureType> {
  const types: Record<string, FixtureType> = {};
  const typeOf = (name: string) => {
    types[name] ??= {};
    return types[name]!;
  };
  let currentType: string | null = null;
  let currentField: { type: string; field: string } | null = null;
  let table: 'fields' | 'args' | 'values' | null = null;
  const heading = /^#{2,7} `([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?`(?: type)?\s*$/;
  const sectionHeading = /^#{2,7} (.+?)\s*$/;
  const row =
    /^\| (?:<a id="[^"]*"><\/a>)?`([A-Za-z_]\w*)`(?: \*\*\{warning-solid\}\*\*| \{\{< icon [^>]*>\}\})? \| (.*)$/;
  const typeCell = /^\[`([^`]+)`\]\(#[^)]*\) \|(.*)$/;
  for (const line of markdown.split('\n')) {
    const h = heading.exec(line);
    if (h) {
      table = null;
      if (h[2]) {
        currentField = { type: h[1]!, field: h[2]! };
        typeOf(h[1]!).fields ??= {};
      } else {
        currentType = h[1]!;
        currentField = null;
      }
      continue;
    }
    const s = sectionHeading.exec(line);
    if (s) {
      if (/^Fields$/.test(s[1]!)) {
        table = 'fields';
        currentField = null;
      } else if (/^Arguments$/.test(s[1]!)) table = currentField ? 'args' : null;
      else if (/^Fields with arguments$/.test(s[1]!)) table = null;
      else {
        // Any other section ("Object types", "Connections", …) ends the type.
        table = null;
        currentType = null;
        currentField = null;
      }
      continue;
    }
    if (line.startsWith('| Value |') && currentType) {
      table = 'values';
      typeOf(currentType).enumValues ??= [];
      continue;
    }
    if (currentField) {
      const returns = /^Returns \[`([^`]+)`\]/.exec(line);
      if (returns) {
        const f = typeOf(currentField.type).fields!;
        f[currentField.field] = { ...f[currentField.field], type: returns[1]! };
        continue;
      }
      if (line.startsWith('This field returns a [connection]')) {
        const f = typeOf(currentField.type).fields![currentField.field]!;
        f.args = { ...PAGINATION, ...f.args };
        continue;
      }
    }
    const r = row.exec(line);
    if (!r) continue;
    const [, name, rest] = r as unknown as [string, string, string];
    if (table === 'values' && currentType) {
      typeOf(currentType).enumValues!.push(name);
      continue;
    }
    const cell = typeCell.exec(rest);
    if (!cell) continue;
    const [, type, description] = cell as unknown as [string, string, string];
    if (table === 'fields' && currentType) {
      const t = typeOf(currentType);
      t.fields ??= {};
      const fields = t.fields;
      fields[name] = description.includes('(see [Connections](#connections))')
        ? { type, args: { ...PAGINATION } }
        : { type };
    } else if (table === 'args' && currentField) {
      const f = typeOf(currentField.type).fields![currentField.field]!;
      f.args = { ...f.args, [name]: type };
    }
  }
  return types;
}

/** Fields (with the arguments used) that gitsync wants, per type: the provider's queries and the emulator's schema. */
export function wantedFields(): Map<string, Set<string>> {
  const wanted = new Map<string, Set<string>>();
  const want = (type: string, field: string) => {
    if (!wanted.has(type)) wanted.set(type, new Set());
    wanted.get(type)!.add(field);
  };
  const schema = buildSchema(GITLAB_SDL);
  for (const type of Object.values(schema.getTypeMap()))
    if (isObjectType(type) && !type.name.startsWith('__'))
      for (const field of Object.keys(type.getFields())) want(type.name, field);
  // The provider's queries, walked against the emulator's schema to know each selection's type;
  // a field the emulator lacks is still wanted (under the parent the walk knows).
  const walk = (set: SelectionSetNode | undefined, typeName: string) => {
    if (!set) return;
    const type = schema.getType(typeName);
    for (const sel of set.selections) {
      if (sel.kind !== Kind.FIELD || sel.name.value === '__typename') continue;
      want(typeName, sel.name.value);
      const def = isObjectType(type) ? type.getFields()[sel.name.value] : undefined;
      if (def) walk(sel.selectionSet, getNamedType(def.type).name);
    }
  };
  for (const query of representativeQueries())
    for (const d of parse(query).definitions)
      if (d.kind === Kind.OPERATION_DEFINITION) walk(d.selectionSet, 'Query');
  return wanted;
}

/** Every query the provider builds, with representative inputs. */
export function representativeQueries(): string[] {
  return [
    pullsQuery([
      { path: 'group/app', iids: [1, 2] },
      { path: 'group/sub/lib', iids: [7] },
    ]),
    candidatesQuery([{ path: 'group/app', branches: ['feature/a', 'fix-b'] }]),
    feedbackQuery('group/app', 3),
  ];
}

export function extract(
  markdown: string,
  source: Record<string, string>,
): { fixture: Fixture; missing: string[] } {
  const reference = parseReference(markdown);
  const wanted = wantedFields();
  const types: Record<string, FixtureType> = {};
  const missing: string[] = [];
  const enumsUsed = new Set<string>();
  const named = (t: string) => t.replace(/[[\]!]/g, '');
  for (const [typeName, fields] of [...wanted].sort(([a], [b]) => a.localeCompare(b))) {
    const ref = reference[typeName]?.fields ?? {};
    const out: Record<string, FixtureField> = {};
    for (const field of [...fields].sort()) {
      const f = ref[field];
      if (!f?.type) {
        missing.push(`${typeName}.${field}`);
        continue;
      }
      out[field] = f.args
        ? { type: f.type, args: Object.fromEntries(Object.entries(f.args).sort()) }
        : { type: f.type };
      enumsUsed.add(named(f.type));
      for (const a of Object.values(f.args ?? {})) enumsUsed.add(named(a));
    }
    if (Object.keys(out).length) types[typeName] = { fields: out };
  }
  const emulatorEnums = Object.values(buildSchema(GITLAB_SDL).getTypeMap()).filter(isEnumType);
  for (const e of emulatorEnums) enumsUsed.add(e.name);
  for (const name of [...enumsUsed].sort()) {
    const values = reference[name]?.enumValues;
    if (values) types[name] = { enumValues: values };
  }
  return { fixture: { source, types }, missing };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, commit, date] = process.argv.slice(2);
  if (!file || !commit) {
    console.error('usage: extract.ts <_index.md> <commit> [date]');
    process.exit(2);
  }
  const { fixture, missing } = extract(readFileSync(file, 'utf8'), {
    repository: 'gitlab-org/gitlab (mirror gitlabhq/gitlabhq)',
    path: 'doc/api/graphql/reference/_index.md',
    commit,
    ...(date ? { date } : {}),
    licence: 'CC BY-SA 4.0 (documentation); names and types only, no prose',
  });
  const out = new URL('./gitlab-graphql-subset.json', import.meta.url);
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  console.log(`wrote ${Object.keys(fixture.types).length} types`);
  if (missing.length) console.log(`not in the reference: ${missing.join(', ')}`);
}

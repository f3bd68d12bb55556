import {
  type ArgumentNode,
  getNamedType,
  isEnumType,
  isObjectType,
  Kind,
  parse,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { gitlabGraphqlSchema, graphqlDetailedMergeStatus } from './graphql.ts';
import { DETAILED_MERGE_STATUSES } from './model.ts';
import { type Fixture, representativeQueries } from './schema/extract.ts';
import fixtureJson from './schema/gitlab-graphql-subset.json' with { type: 'json' };

/**
 * gitsync's GitLab queries and the emulator's schema, checked against GitLab's published GraphQL
 * reference (`schema/gitlab-graphql-subset.json`, extracted from `doc/api/graphql/reference/_index.md`;
 * see `schema/README.md`).
 */
const fixture = fixtureJson as Fixture;
const types = fixture.types;

/**
 * What the emulator declares that the fixture does not hold (not extracted yet), each checked by hand
 * against the reference: none of it is sent by the provider.
 */
const NOT_EXTRACTED = new Set(['Query.currentUser', 'QueryComplexity', 'CommitConnection']);

/**
 * `DetailedMergeStatus` values GitLab added after the fixture's commit, from the enum's source
 * (`app/graphql/types/merge_requests/detailed_merge_status_enum.rb` at gitlabhq/gitlabhq 09e2e954):
 * `TITLE_NOT_MATCHING` (`title_regex`), `CODE_OWNERS_APPROVAL`.
 */
const NEWER_ENUM_VALUES: Record<string, string[]> = {
  DetailedMergeStatus: ['TITLE_NOT_MATCHING', 'CODE_OWNERS_APPROVAL'],
};

const named = (t: string) => t.replace(/[[\]!]/g, '');

/** Why a literal does not fit a GraphQL type as the reference writes it (`[String!]`, `Int!`, an enum), or null. */
function misfit(value: ValueNode, type: string): string | null {
  if (value.kind === Kind.VARIABLE) return null;
  if (type.endsWith('!')) {
    if (value.kind === Kind.NULL) return `null for ${type}`;
    return misfit(value, type.slice(0, -1));
  }
  if (value.kind === Kind.NULL) return null;
  if (type.startsWith('[')) {
    const inner = type.slice(1, -1);
    // A single value stands for a list of one (GraphQL input coercion).
    if (value.kind !== Kind.LIST) return misfit(value, inner);
    for (const v of value.values) {
      const m = misfit(v, inner);
      if (m) return m;
    }
    return null;
  }
  const enumValues = types[type]?.enumValues;
  if (enumValues)
    return value.kind === Kind.ENUM && enumValues.includes(value.value)
      ? null
      : `${value.kind === Kind.ENUM ? value.value : value.kind} is not a ${type} value`;
  const ok: Record<string, Kind[]> = {
    String: [Kind.STRING],
    ID: [Kind.STRING, Kind.INT],
    Int: [Kind.INT],
    Boolean: [Kind.BOOLEAN],
  };
  if (!ok[type]) return `no rule for ${type}`;
  return ok[type].includes(value.kind) ? null : `${value.kind} for ${type}`;
}

/** Every field, argument and value of a query that GitLab's reference does not have, as `Type.field…` lines. */
function problems(query: string): string[] {
  const out: string[] = [];
  const walk = (set: SelectionSetNode | undefined, typeName: string, path: string) => {
    if (!set) return;
    for (const sel of set.selections) {
      if (sel.kind !== Kind.FIELD) {
        out.push(`${path}: ${sel.kind} not checked`);
        continue;
      }
      const name = sel.name.value;
      if (name === '__typename') continue;
      const field = types[typeName]?.fields?.[name];
      if (!field) {
        out.push(`${typeName}.${name}: not in GitLab's reference`);
        continue;
      }
      const given = new Map<string, ArgumentNode>((sel.arguments ?? []).map((a) => [a.name.value, a]));
      for (const [argName, arg] of given) {
        const argType = field.args?.[argName];
        if (!argType) out.push(`${typeName}.${name}(${argName}:): no such argument`);
        else {
          const m = misfit(arg.value, argType);
          if (m) out.push(`${typeName}.${name}(${argName}:): ${m}`);
        }
      }
      for (const [argName, argType] of Object.entries(field.args ?? {}))
        if (argType.endsWith('!') && !given.has(argName))
          out.push(`${typeName}.${name}: required ${argName} missing`);
      const child = named(field.type);
      if (sel.selectionSet && !types[child]?.fields)
        out.push(`${typeName}.${name}: ${child} not in the fixture`);
      walk(sel.selectionSet, child, `${typeName}.${name}`);
    }
  };
  for (const d of parse(query).definitions)
    if (d.kind === Kind.OPERATION_DEFINITION) walk(d.selectionSet, 'Query', 'Query');
  return out;
}

describe("GitLab's published GraphQL schema", () => {
  it('has every field, argument and value the provider sends', () => {
    for (const query of representativeQueries()) expect(problems(query), query).toEqual([]);
  });

  it('refuses a field GitLab does not have, an unknown argument, a wrong enum value or literal', () => {
    const q = (s: string) => problems(`query { project(fullPath: "a/b") { ${s} } }`);
    expect(q('mergeRequest(iid: "1") { iid mergeability }')).toEqual([
      "MergeRequest.mergeability: not in GitLab's reference",
    ]);
    expect(q('mergeRequests(state: open, first: 1) { nodes { iid } }')).toEqual([
      'Project.mergeRequests(state:): open is not a MergeRequestState value',
    ]);
    expect(q('mergeRequests(iids: [1], first: 1) { nodes { iid } }')).toEqual([
      'Project.mergeRequests(iids:): IntValue for String',
    ]);
    expect(q('mergeRequests(branch: "x") { nodes { iid } }')).toEqual([
      'Project.mergeRequests(branch:): no such argument',
    ]);
    expect(q('mergeRequest { iid }')).toEqual(['Project.mergeRequest: required iid missing']);
  });

  it("the emulator declares GitLab's fields with GitLab's types, nullability and arguments", () => {
    const schema = gitlabGraphqlSchema();
    const out: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || NOT_EXTRACTED.has(type.name)) continue;
      if (isObjectType(type)) {
        const ref = types[type.name]?.fields;
        if (!ref) {
          out.push(`${type.name}: not in the fixture`);
          continue;
        }
        for (const [name, def] of Object.entries(type.getFields())) {
          if (NOT_EXTRACTED.has(`${type.name}.${name}`)) continue;
          const f = ref[name];
          if (!f) {
            out.push(`${type.name}.${name}: GitLab has no such field`);
            continue;
          }
          if (String(def.type) !== f.type) out.push(`${type.name}.${name}: ${def.type}, GitLab ${f.type}`);
          for (const arg of def.args) {
            const a = f.args?.[arg.name];
            if (!a) out.push(`${type.name}.${name}(${arg.name}:): GitLab has no such argument`);
            else if (String(arg.type) !== a)
              out.push(`${type.name}.${name}(${arg.name}:): ${arg.type}, GitLab ${a}`);
          }
        }
      } else if (isEnumType(type)) {
        const ref = types[type.name]?.enumValues;
        if (!ref) {
          out.push(`${type.name}: enum not in the fixture`);
          continue;
        }
        for (const v of type.getValues())
          if (!ref.includes(v.name) && !NEWER_ENUM_VALUES[type.name]?.includes(v.name))
            out.push(`${type.name}.${v.name}: not a GitLab value`);
      }
    }
    expect(out).toEqual([]);
  });

  it("answers every detailed merge status the model knows by GitLab's GraphQL name", () => {
    const schema = gitlabGraphqlSchema();
    const e = schema.getType('DetailedMergeStatus');
    if (!isEnumType(e)) throw new Error('DetailedMergeStatus is not an enum');
    for (const status of DETAILED_MERGE_STATUSES)
      expect(e.getValue(graphqlDetailedMergeStatus(status)), status).toBeDefined();
    // The field's type is GitLab's, whatever the model's words.
    const mr = schema.getType('MergeRequest');
    expect(isObjectType(mr) && String(getNamedType(mr.getFields().detailedMergeStatus!.type))).toBe(
      'DetailedMergeStatus',
    );
  });
});

/*
 * Validation rules that refuse a query before it runs: too deep (a selection nested past
 * max_depth), or too costly (an estimate of the rows it could make past max_cost). Fields whose
 * names start with "__" (introspection) are not counted: GraphiQL's introspection query is deep,
 * and bounded by the schema.
 */
import {
  GraphQLError,
  Kind,
  getNamedType,
  isInterfaceType,
  isObjectType,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { MAX_GRAPH_NODES } from './graph.js';

/** Largest `first` a list takes. */
export const MAX_FIRST = 1_000;

/** The most an argument that multiplies may be: what a variable counts as, since its value is not known when the query is validated. */
const MULTIPLIER_CAPS: Record<string, number> = { first: MAX_FIRST, limit: MAX_GRAPH_NODES };

function fragmentsOf(context: ValidationContext): Map<string, FragmentDefinitionNode> {
  const out = new Map<string, FragmentDefinitionNode>();
  for (const d of context.getDocument().definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) out.set(d.name.value, d);
  return out;
}

/**
 * A fragment's measure (depth, cost), taken once per document: it does not depend on where the
 * fragment is spread. 0 for an unknown fragment or a cycle (KnownFragmentNamesRule and
 * NoFragmentCyclesRule report those).
 */
function fragmentMeasure(
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  measured: Map<string, number>,
  visiting: Set<string>,
  name: string,
  measure: (f: FragmentDefinitionNode) => number,
): number {
  const fragment = fragments.get(name);
  if (!fragment || visiting.has(name)) return 0;
  if (!measured.has(name)) {
    visiting.add(name);
    measured.set(name, measure(fragment));
    visiting.delete(name);
  }
  return measured.get(name)!;
}

/** Refuses operations whose selections nest deeper than max. */
export function depthLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = fragmentsOf(context);
    const measured = new Map<string, number>();
    const depthOf = (set: SelectionSetNode, visiting: Set<string>): number => {
      let deepest = 0;
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          if (s.name.value.startsWith('__')) continue;
          deepest = Math.max(deepest, 1 + (s.selectionSet ? depthOf(s.selectionSet, visiting) : 0));
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(s.selectionSet, visiting));
        } else {
          deepest = Math.max(
            deepest,
            fragmentMeasure(fragments, measured, visiting, s.name.value, (f) => depthOf(f.selectionSet, visiting)),
          );
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > max)
          context.reportError(
            new GraphQLError(`query depth ${depth} is over the limit of ${max}: ask for less nested data`, {
              nodes: [node],
              extensions: { code: 'QUERY_TOO_DEEP' },
            }),
          );
      },
    };
  };
}

/**
 * Refuses operations whose estimated cost is over max: each field costs 1 plus its selections,
 * and a field with `first` or `limit` multiplies its selections' cost by it (its default when not
 * given, its largest allowed value when given as a variable).
 */
export function costLimit(max: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema();
    const fragments = fragmentsOf(context);
    const measured = new Map<string, number>();
    const costOf = (set: SelectionSetNode, parent: GraphQLNamedType | undefined, visiting: Set<string>): number => {
      let total = 0;
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          const name = s.name.value;
          if (name.startsWith('__')) continue;
          const field = parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
          let multiplier = 1;
          for (const arg of field?.args ?? []) {
            const cap = MULTIPLIER_CAPS[arg.name];
            if (cap === undefined) continue;
            const given = s.arguments?.find((a) => a.name.value === arg.name)?.value;
            if (!given) multiplier *= typeof arg.defaultValue === 'number' ? arg.defaultValue : 1;
            else if (given.kind === Kind.INT) multiplier *= Math.max(1, Number(given.value));
            else if (given.kind === Kind.VARIABLE) multiplier *= cap;
          }
          const inner = s.selectionSet ? costOf(s.selectionSet, field ? getNamedType(field.type) : undefined, visiting) : 0;
          total += 1 + multiplier * inner;
        } else if (s.kind === Kind.INLINE_FRAGMENT) {
          const on = s.typeCondition ? schema.getType(s.typeCondition.name.value) : parent;
          total += costOf(s.selectionSet, on ?? undefined, visiting);
        } else {
          total += fragmentMeasure(fragments, measured, visiting, s.name.value, (f) =>
            costOf(f.selectionSet, schema.getType(f.typeCondition.name.value) ?? undefined, visiting),
          );
        }
      }
      return total;
    };
    return {
      OperationDefinition(node) {
        const root = schema.getRootType(node.operation) ?? undefined;
        const cost = costOf(node.selectionSet, root, new Set());
        if (cost > max)
          context.reportError(
            new GraphQLError(`query cost ${cost} is over the limit of ${max}: ask for fewer items (first, limit) or fewer fields`, {
              nodes: [node],
              extensions: { code: 'QUERY_TOO_COSTLY', cost },
            }),
          );
      },
    };
  };
}

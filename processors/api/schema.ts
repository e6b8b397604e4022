/*
 * schema.graphql with its resolvers attached: buildSchema gives the types, and each field named in
 * the resolver map gets its resolve (and, on Subscription, subscribe) function; the JSON scalar
 * takes its functions from the map's scalar. Enum values are their names.
 */
import { buildSchema, GraphQLScalarType, isObjectType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';

type FieldResolvers = Record<
  string,
  GraphQLFieldResolver<unknown, unknown> | { subscribe: GraphQLFieldResolver<unknown, unknown>; resolve?: GraphQLFieldResolver<unknown, unknown> }
>;

export function executableSchema(typeDefs: string, resolvers: Record<string, unknown>): GraphQLSchema {
  const schema = buildSchema(typeDefs);
  for (const [typeName, value] of Object.entries(resolvers)) {
    const type = schema.getType(typeName);
    if (!type) throw new Error(`resolvers for ${typeName}, which schema.graphql does not have`);
    if (value instanceof GraphQLScalarType) {
      if (!(type instanceof GraphQLScalarType)) throw new Error(`${typeName} is not a scalar in schema.graphql`);
      type.serialize = value.serialize;
      type.parseValue = value.parseValue;
      type.parseLiteral = value.parseLiteral;
      continue;
    }
    if (!isObjectType(type)) throw new Error(`${typeName} is not an object type in schema.graphql`);
    const fields = type.getFields();
    for (const [fieldName, resolver] of Object.entries(value as FieldResolvers)) {
      const field = fields[fieldName];
      if (!field) throw new Error(`a resolver for ${typeName}.${fieldName}, which schema.graphql does not have`);
      if (typeof resolver === 'function') field.resolve = resolver;
      else {
        field.subscribe = resolver.subscribe;
        if (resolver.resolve) field.resolve = resolver.resolve;
      }
    }
  }
  return schema;
}

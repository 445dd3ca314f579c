/**
 * The routes the app registered, by method and pattern, so that the not-found handler can tell a
 * path no route has (404) from a known path asked with another method (405 with `Allow`).
 * Fastify's `hasRoute` cannot: it compares patterns (`/api/chats/:id`), not concrete paths.
 */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export interface RouteTable {
  /** Records a route as Fastify's `onRoute` hook reports it. */
  add(method: string | string[], url: string): void;
  /** The methods some route accepts for this concrete path (no query string), in a stable order. */
  methodsFor(path: string): string[];
}

export function createRouteTable(): RouteTable {
  const routes: { method: string; segments: string[] }[] = [];
  return {
    add(method, url) {
      for (const m of Array.isArray(method) ? method : [method]) routes.push({ method: m.toUpperCase(), segments: url.split('/') });
    },
    methodsFor(path) {
      const segments = path.split('/');
      const methods = new Set(routes.filter((route) => matches(route.segments, segments)).map((route) => route.method));
      return [...methods].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    },
  };
}

const rank = (method: string) => {
  const index = METHOD_ORDER.indexOf(method);
  return index === -1 ? METHOD_ORDER.length : index;
};

/**
 * As Fastify's router (find-my-way) matches: `:name` one segment, even an empty one; a final `*`
 * the rest of the path, but only where the path has that segment; anything else itself.
 */
function matches(pattern: string[], path: string[]): boolean {
  for (let i = 0; i < pattern.length; i += 1) {
    const segment = pattern[i]!;
    const actual = path[i];
    if (actual === undefined) return false;
    if (segment === '*' && i === pattern.length - 1) return true;
    if (!segment.startsWith(':') && segment !== actual) return false;
  }
  return pattern.length === path.length;
}

import { useEffect, useState } from "preact/hooks";

/** The console's own paths, all under /console/ (the server answers each with index.html). */
export const BASE = "/console";

export type Route =
  | { page: "users" }
  | { page: "user"; userId: string }
  | { page: "audit" }
  | { page: "providers" }
  | { page: "operations" }
  | { page: "operation"; id: string }
  | { page: "not-found" };

export function parse(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  let parts: string[];
  try {
    parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    // A malformed escape (a lone "%"): decodeURIComponent throws URIError; the address names no page.
    return { page: "not-found" };
  }
  if (parts.length === 0 || (parts[0] === "users" && parts.length === 1)) return { page: "users" };
  if (parts[0] === "users" && parts.length === 2) return { page: "user", userId: parts[1]! };
  if (parts[0] === "audit" && parts.length === 1) return { page: "audit" };
  if (parts[0] === "providers" && parts.length === 1) return { page: "providers" };
  if (parts[0] === "operations" && parts.length === 1) return { page: "operations" };
  if (parts[0] === "operations" && parts.length === 2) return { page: "operation", id: parts[1]! };
  return { page: "not-found" };
}

export function href(route: Route): string {
  switch (route.page) {
    case "users":
      return `${BASE}/`;
    case "user":
      return `${BASE}/users/${encodeURIComponent(route.userId)}`;
    case "operation":
      return `${BASE}/operations/${encodeURIComponent(route.id)}`;
    default:
      return `${BASE}/${route.page}`;
  }
}

const listeners = new Set<() => void>();

export function navigate(to: string): void {
  if (to !== location.pathname + location.search) history.pushState(null, "", to);
  listeners.forEach((l) => l());
}

/** The current route; follows navigate() and the browser's back and forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parse(location.pathname));
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** A click on an in-console link: handled here unless the operator asked for a new tab or window. */
export function onLinkClick(e: MouseEvent): void {
  const a = e.currentTarget as HTMLAnchorElement;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
}

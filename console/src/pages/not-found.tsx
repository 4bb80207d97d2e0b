import { Link } from "../ui.js";

/** An address under /console that names no page: a mistyped or cut link, or a malformed escape such as a lone "%". */
export function NotFoundPage() {
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        The address <code>{location.pathname}</code> is not one of the console's pages.
      </p>
      <p>
        <Link to={{ page: "users" }}>Go to Users</Link>
      </p>
    </>
  );
}

import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { signedIn, signOut } from "./api.js";
import { AuditPage } from "./pages/audit.js";
import { NotFoundPage } from "./pages/not-found.js";
import { OperationPage, OperationsPage } from "./pages/operations.js";
import { ProvidersPage } from "./pages/providers.js";
import { SignIn } from "./pages/sign-in.js";
import { UserPage, UsersPage } from "./pages/users.js";
import { useRoute, type Route } from "./router.js";

/** The console's sections, in the order of its navigation. */
const SECTIONS = [
  ["users", "Users"],
  ["audit", "Audit trail"],
  ["providers", "Providers"],
  ["operations", "Operations"],
] as const;
import { Link } from "./ui.js";

const TITLES: Record<Route["page"], string> = {
  users: "Users",
  user: "User",
  audit: "Audit trail",
  providers: "Providers",
  operations: "Operations",
  operation: "Operation",
  "not-found": "Page not found",
};

function App() {
  const [authed, setAuthed] = useState(signedIn());
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    document.title = `${authed ? TITLES[route.page] : "Sign in"} · session-control console`;
    // After a navigation the page's heading takes the focus, so screen readers announce the new page.
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.querySelector<HTMLElement>("h1")?.focus();
  }, [route, authed]);

  if (!authed) {
    return (
      <main id="main" ref={main}>
        <SignIn onSignedIn={() => setAuthed(true)} />
      </main>
    );
  }
  const section = route.page === "user" ? "users" : route.page === "operation" ? "operations" : route.page;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          // Focus moves to the content without a fragment in the URL (the console routes by path).
          e.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <p class="brand">session-control</p>
        <nav aria-label="Console">
          <ul>
            {SECTIONS.map(([page, label]) => (
              <li key={page}>
                <Link to={{ page }} current={section === page}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            signOut();
            setAuthed(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "users":
      return <UsersPage />;
    case "user":
      return <UserPage key={route.userId} userId={route.userId} />;
    case "audit":
      return <AuditPage />;
    case "providers":
      return <ProvidersPage />;
    case "operations":
      return <OperationsPage />;
    case "operation":
      return <OperationPage key={route.id} id={route.id} />;
    case "not-found":
      return <NotFoundPage />;
  }
}

render(<App />, document.getElementById("app")!);

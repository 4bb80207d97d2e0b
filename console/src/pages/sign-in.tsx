import { Code, ConnectError } from "@connectrpc/connect";
import { useState } from "preact/hooks";
import { api, shownError, signIn, signOut, type ShownError } from "../api.js";
import { ErrorBox } from "../ui.js";

/** Sign in with an API key or a JWT of a trusted issuer (auth.jwt_issuers), kept in memory only: a reload or "Sign out" forgets it. */
export function SignIn(props: { onSignedIn(): void }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    signIn(key.trim());
    try {
      // Any answer but UNAUTHENTICATED means the key is known (a key without session.read is still one).
      await api.listProviders({});
    } catch (err) {
      if (ConnectError.from(err).code === Code.Unauthenticated) {
        signOut();
        setError(shownError(err));
        setBusy(false);
        return;
      }
    }
    setKey("");
    props.onSignedIn();
  };

  return (
    <section class="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title" tabIndex={-1}>
        Sign in to the session-control console
      </h1>
      <p class="muted">An API key, or an access token (JWT) of an issuer this service trusts. It is kept in this page's memory only: reloading the page signs you out.</p>
      <form onSubmit={submit}>
        <label for="api-key">API key or access token (JWT)</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {error && <ErrorBox error={error} title="Not signed in" />}
    </section>
  );
}

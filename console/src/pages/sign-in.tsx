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
      // ListProviders is open to every authenticated caller, so only its answer proves the key or
      // token works: a refusal, an unavailable server or a lost connection leaves the operator here.
      await api.listProviders({});
    } catch (err) {
      signOut();
      setError(shownError(err));
      setBusy(false);
      return;
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
        {/*
          Not type="password": browsers and password managers offer to save any password field
          (autocomplete="off" does not stop them), and the key must stay in memory only. A text
          field with no username beside it is not a login form to them; the CSS class masks the
          characters on screen, and data-1p-ignore / data-lpignore tell 1Password and LastPass to
          leave it alone.
        */}
        <input
          id="api-key"
          name="api-key"
          type="text"
          class="secret"
          autocomplete="off"
          autocapitalize="off"
          autocorrect="off"
          spellcheck={false}
          data-1p-ignore
          data-lpignore="true"
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

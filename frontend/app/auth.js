// OIDC login: authorization code + PKCE through oidc-client-ts, silent renew, logout.
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

export function displayName(user) {
  const p = (user && user.profile) || {};
  return p.preferred_username || p.name || p.sub || "";
}

export function userId(user) {
  return (user && user.profile && user.profile.sub) || "";
}

export function createAuth(config, { location = window.location } = {}) {
  const origin = location.origin;
  const manager = new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${origin}/`,
    post_logout_redirect_uri: `${origin}/`,
    silent_redirect_uri: `${origin}/silent-renew.html`,
    response_type: "code", // PKCE is always on for the code flow in oidc-client-ts
    scope: "openid profile",
    automaticSilentRenew: true,
    // Some providers mint access tokens for the API only when asked for its audience.
    extraQueryParams: config.audience ? { audience: config.audience } : {},
    // Per tab: a reload keeps the session, another window may log in as someone else.
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });

  let current = null;
  const listeners = new Set();
  const notify = () => listeners.forEach((fn) => fn(current));
  manager.events.addUserLoaded((user) => { current = user; notify(); });
  manager.events.addUserUnloaded(() => { current = null; notify(); });
  manager.events.addSilentRenewError(() => { /* the WebSocket's 1008 close re-checks */ });

  return {
    manager,
    get user() { return current; },
    onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },

    // Finish a redirect if this page load is one, then return the signed-in user or null.
    async init() {
      const params = new URLSearchParams(location.search);
      if (params.has("error")) {
        const why = params.get("error_description") || params.get("error");
        window.history.replaceState({}, "", "/");
        throw new Error(`Login was refused by the provider: ${why}`);
      }
      if (params.has("code") && params.has("state")) {
        current = await manager.signinRedirectCallback();
        // Drop the one-time code from the address bar and history.
        window.history.replaceState({}, "", "/");
        return current;
      }
      current = await manager.getUser();
      if (current && current.expired) {
        try {
          current = await manager.signinSilent();
        } catch {
          await manager.removeUser();
          current = null;
        }
      }
      return current;
    },

    login() {
      return manager.signinRedirect();
    },

    async logout() {
      try {
        await manager.signoutRedirect();
      } catch {
        // No end_session_endpoint at the provider: forget the session locally.
        await manager.removeUser();
        window.location.assign("/");
      }
    },

    // A fresh access token, renewing first when the current one is (nearly) expired.
    async token() {
      if (current && (current.expires_in ?? 60) < 10) {
        try { current = await manager.signinSilent(); } catch { /* use what we have */ }
      }
      return current ? current.access_token : "";
    },

    async renew() {
      current = await manager.signinSilent();
      return current;
    },
  };
}

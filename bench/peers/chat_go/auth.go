package main

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// verifier checks access tokens as Parley's gateway does: signature by a key of the
// provider's JWKS (RS256 only), issuer, audience, expiry with 30 s of leeway. An unknown
// `kid` refreshes the key set, at most once every 10 s (keys rotate).
type verifier struct {
	jwksURL  string
	issuer   string
	audience string
	parser   *jwt.Parser

	mu        sync.RWMutex
	keys      map[string]*rsa.PublicKey
	refreshed time.Time
}

func newVerifier(ctx context.Context, issuer, audience string) (*verifier, error) {
	var discovery struct {
		JwksURI string `json:"jwks_uri"`
	}
	if err := getJSON(ctx, strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration", &discovery); err != nil {
		return nil, err
	}
	v := &verifier{
		jwksURL:  discovery.JwksURI,
		issuer:   issuer,
		audience: audience,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256"}),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(30*time.Second),
		),
	}
	return v, v.refresh(ctx)
}

func getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func (v *verifier) refresh(ctx context.Context) error {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := getJSON(ctx, v.jwksURL, &set); err != nil {
		return err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return errors.New("JWKS has no RSA keys")
	}
	v.mu.Lock()
	v.keys, v.refreshed = keys, time.Now()
	v.mu.Unlock()
	return nil
}

func (v *verifier) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	v.mu.RLock()
	key, ok := v.keys[kid]
	stale := time.Since(v.refreshed) > 10*time.Second
	v.mu.RUnlock()
	if ok {
		return key, nil
	}
	if stale {
		if err := v.refresh(ctx); err != nil {
			return nil, err
		}
		v.mu.RLock()
		key, ok = v.keys[kid]
		v.mu.RUnlock()
		if ok {
			return key, nil
		}
	}
	return nil, fmt.Errorf("no key %q in the provider's JWKS", kid)
}

// subject verifies the token and returns its `sub`.
func (v *verifier) subject(ctx context.Context, token string) (string, error) {
	claims := jwt.RegisteredClaims{}
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return v.key(ctx, kid)
	})
	if err != nil {
		return "", err
	}
	if claims.Subject == "" {
		return "", errors.New("token has no sub")
	}
	return claims.Subject, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

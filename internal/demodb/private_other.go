//go:build !unix

package demodb

import (
	"context"
	"errors"
)

// StartPrivate is not available here: it needs Unix sockets and process credentials.
func StartPrivate(context.Context, Options) (*Server, error) {
	return nil, errors.New("a private server needs a Unix system; set INDEXER_DATABASE_URL or use Docker")
}

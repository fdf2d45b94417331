package control

import (
	"context"
	"maps"
	"strings"

	"github.com/ember-serverless/ember/internal/lambdaerr"
)

// resourceFunction is the function a tagging request's resource ARN names. Lambda tags only
// unqualified function ARNs: a bare name or a version or alias ARN is refused.
func (r *Registry) resourceFunction(resource string) (string, error) {
	if !strings.HasPrefix(resource, "arn:") {
		return "", constraintError(resource, "resource", "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:[a-zA-Z0-9-_]+)")
	}
	name, qualifier, err := r.cfg.ParseFunctionName(resource, MaxNamespacedFunctionNameLen)
	if err != nil {
		return "", err
	}
	if qualifier != "" {
		return "", lambdaerr.InvalidParameter("Tags on function aliases and versions are not supported. Please specify a function ARN.")
	}
	return name, nil
}

// ListTags is the tags of the function resource names.
func (r *Registry) ListTags(resource string) (map[string]string, error) {
	name, err := r.resourceFunction(resource)
	if err != nil {
		return nil, err
	}
	f, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	return maps.Clone(f.Tags), nil
}

// TagResource adds tags to the function resource names, replacing the values of keys it has.
// The result must hold Lambda's limits (MaxTags and the key and value rules), or nothing
// changes.
func (r *Registry) TagResource(ctx context.Context, resource string, tags map[string]string) error {
	name, err := r.resourceFunction(resource)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return constraintError("{}", "tags", "Member must not be empty")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	_, err = r.update(ctx, name, func(f *Function) error {
		merged := maps.Clone(f.Tags)
		if merged == nil {
			merged = make(map[string]string, len(tags))
		}
		maps.Copy(merged, tags)
		if err := validateTags(merged); err != nil {
			return err
		}
		f.Tags = merged
		return nil
	})
	if err != nil {
		return err
	}
	r.logger.Info("function tagged", "function", name, "tags", len(tags))
	return nil
}

// UntagResource removes the tags with keys from the function resource names; keys it does not
// have are ignored, as on Lambda.
func (r *Registry) UntagResource(ctx context.Context, resource string, keys []string) error {
	name, err := r.resourceFunction(resource)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return constraintError("[]", "tagKeys", "Member must not be null")
	}
	for _, k := range keys {
		if err := validateTagKey(k); err != nil {
			return err
		}
	}
	_, err = r.update(ctx, name, func(f *Function) error {
		tags := maps.Clone(f.Tags)
		for _, k := range keys {
			delete(tags, k)
		}
		if len(tags) == 0 {
			tags = nil
		}
		f.Tags = tags
		return nil
	})
	if err != nil {
		return err
	}
	r.logger.Info("function untagged", "function", name, "keys", len(keys))
	return nil
}

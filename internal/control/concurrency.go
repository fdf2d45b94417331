package control

import (
	"context"
	"fmt"

	"github.com/ember-serverless/ember/internal/lambdaerr"
	"github.com/ember-serverless/ember/internal/limits"
)

// Concurrency is Lambda's Concurrency shape: PutFunctionConcurrency's output, GetFunction's
// Concurrency and GetFunctionConcurrency's output (empty when the function has none).
type Concurrency struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

func reservedOf(f *Function) int {
	if f == nil || f.Reserved == nil {
		return 0
	}
	return *f.Reserved
}

// ConcurrencyLimit is the account's concurrent executions.
func (r *Registry) ConcurrencyLimit() int { return r.cfg.ConcurrencyLimit }

// ReservedTotal is the sum of every function's reserved concurrency, from memory.
func (r *Registry) ReservedTotal() int { return int(r.reserved.Load()) }

// UnreservedConcurrency is the account's concurrent executions not reserved by any function:
// what the functions without a reservation share (GetAccountSettings'
// UnreservedConcurrentExecutions).
func (r *Registry) UnreservedConcurrency() int { return r.cfg.ConcurrencyLimit - r.ReservedTotal() }

// Reserved is function name's reserved concurrency and whether it has one, from memory: the
// invoke path's read.
func (r *Registry) Reserved(name string) (int, bool) {
	f, ok := r.Lookup(name)
	if !ok || f.Reserved == nil {
		return 0, false
	}
	return *f.Reserved, true
}

// PutFunctionConcurrency reserves n concurrent executions for a function, as Lambda does: the
// account must keep limits.MinUnreservedConcurrency unreserved. n is nil when the request
// named none.
func (r *Registry) PutFunctionConcurrency(ctx context.Context, nameOrARN string, n *int) (*Concurrency, error) {
	name, err := r.parseUnqualified(nameOrARN)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, nullError("reservedConcurrentExecutions")
	}
	if *n < 0 {
		return nil, constraintError(fmt.Sprint(*n), "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
	}
	want := *n
	f, err := r.update(ctx, name, func(f *Function) error {
		// The others' reservations, from memory: two concurrent puts on different functions
		// may each pass this check (Lambda's own check is not transactional either).
		others := r.ReservedTotal() - reservedOf(r.cached(name))
		if r.cfg.ConcurrencyLimit-others-want < limits.MinUnreservedConcurrency {
			return lambdaerr.InvalidParameter("Specified ReservedConcurrentExecutions for function decreases account's "+
				"UnreservedConcurrentExecution below its minimum value of [%d].", limits.MinUnreservedConcurrency)
		}
		if p := r.provisioned.Load(); p != nil && p.FunctionTotal(name) > want {
			return lambdaerr.InvalidParameter("Specified ReservedConcurrentExecutions for function is less than the function's "+
				"total provisioned concurrency: %d.", p.FunctionTotal(name))
		}
		v := want
		f.Reserved = &v
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.logger.Info("reserved concurrency set", "function", name, "reserved", want)
	return &Concurrency{ReservedConcurrentExecutions: f.Reserved}, nil
}

// GetFunctionConcurrency is the function's reserved concurrency (empty without one).
func (r *Registry) GetFunctionConcurrency(nameOrARN string) (*Concurrency, error) {
	name, err := r.parseUnqualified(nameOrARN)
	if err != nil {
		return nil, err
	}
	f, ok := r.Lookup(name)
	if !ok {
		return nil, r.notFound(name, "")
	}
	return &Concurrency{ReservedConcurrentExecutions: f.Reserved}, nil
}

// DeleteFunctionConcurrency removes the function's reservation: its invokes share the
// unreserved concurrency again.
func (r *Registry) DeleteFunctionConcurrency(ctx context.Context, nameOrARN string) error {
	name, err := r.parseUnqualified(nameOrARN)
	if err != nil {
		return err
	}
	if _, err := r.update(ctx, name, func(f *Function) error {
		if f.Reserved == nil {
			return errUnchanged
		}
		f.Reserved = nil
		return nil
	}); err != nil && err != errUnchanged {
		return err
	}
	r.logger.Info("reserved concurrency removed", "function", name)
	return nil
}

// cached is the function in memory, or nil.
func (r *Registry) cached(name string) *Function {
	f, _ := r.Lookup(name)
	return f
}

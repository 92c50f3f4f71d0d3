package kubeapi

import (
	"context"
	"fmt"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ApplySlice creates s on the API server, or replaces the slice of its
// name and namespace there (s itself is not changed).
func ApplySlice(ctx context.Context, c kubernetes.Interface, s *discoveryv1.EndpointSlice) error {
	api := c.DiscoveryV1().EndpointSlices(s.Namespace)
	cur, err := api.Get(ctx, s.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating EndpointSlice %s: %w", s.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading EndpointSlice %s: %w", s.Name, err)
	default:
		s = s.DeepCopy()
		s.ResourceVersion = cur.ResourceVersion
		if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating EndpointSlice %s: %w", s.Name, err)
		}
	}
	return nil
}

/** Host-side management refused (unknown container, wrong class, content too large, directory in use). */
export class ProvisioningError extends Error {
  override name = 'ProvisioningError';
}

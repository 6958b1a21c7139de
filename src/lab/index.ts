/**
 * The NAT lab's network layer (docs/LAB.md): scenarios, NAT profiles with their ground truth,
 * and Linux network namespaces built from them. Import from here.
 */
export { formatAddressTable } from './address-table.js'
export { type CleanOptions, type CleanReport, cleanLabs } from './clean.js'
export { CommandError, type CommandResult } from './command.js'
export { type Expected, expectedFor } from './expectations.js'
export {
  type ExpectedOutcome,
  expectedOutcome,
  NAT_PROFILES,
  NAT_TYPES,
  type NatBehaviour,
  type NatProfile,
  type NatType,
  routerRules,
  TRANSPORTS,
  type Transport,
} from './nat-profiles.js'
export { type LabPlan, planLab } from './plan.js'
export { assertLabAvailable, LabUnavailableError, labUnavailableReason } from './preflight.js'
export {
  type Expectation,
  type HomeNetwork,
  type HostImpl,
  type HostRole,
  type HostSpec,
  LAB_OUTCOMES,
  type LabOutcome,
  routerName,
  type Scenario,
  ScenarioError,
  type ScenarioIssue,
  validateScenario,
} from './scenario.js'
export { loadScenario, parseScenarioText, resolveScenarioPath, shippedScenarios } from './scenario-file.js'
export {
  type ExecOptions,
  type HostNode,
  type LabNetwork,
  type LabNode,
  type PublicNode,
  type PublicNodeKind,
  type RouterNode,
  type UpOptions,
  upLabNetwork,
} from './topology.js'

/**
 * The fields and types of Triton's model configuration (model_config.proto of
 * triton-inference-server/common, package `inference`), written out by hand for the validator: what
 * a config.pbtxt may contain, and of which type. Messages this package never writes and that a
 * validator need not open (sequence batching, ensembles, batch inputs) are kept as opaque messages.
 */

export type Scalar = 'string' | 'bool' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'float' | 'double';

export interface FieldSpec {
  /** A scalar, `enum:<Name>`, `message:<Name>`, or `map:<keyScalar>:<valueType>` (value a scalar or message:<Name>). */
  type: string;
  repeated?: boolean;
  /** Fields of one oneof: at most one of them may be set. */
  oneof?: string;
}

type MessageSpec = Record<string, FieldSpec>;

const f = (type: string, extra: Omit<FieldSpec, 'type'> = {}): FieldSpec => ({ type, ...extra });
const r = (type: string): FieldSpec => ({ type, repeated: true });

export const ENUMS: Record<string, readonly string[]> = {
  DataType: ['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16'],
  Kind: ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'],
  SecondaryDeviceKind: ['KIND_NVDLA'],
  Format: ['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'],
  ModelPriority: ['PRIORITY_DEFAULT', 'PRIORITY_MAX', 'PRIORITY_MIN'],
  TimeoutAction: ['REJECT', 'DELAY'],
};

export const MESSAGES: Record<string, MessageSpec> = {
  ModelConfig: {
    name: f('string'),
    platform: f('string'),
    backend: f('string'),
    runtime: f('string'),
    version_policy: f('message:ModelVersionPolicy'),
    max_batch_size: f('int32'),
    input: r('message:ModelInput'),
    output: r('message:ModelOutput'),
    batch_input: r('message:Opaque'),
    batch_output: r('message:Opaque'),
    optimization: f('message:ModelOptimizationPolicy'),
    dynamic_batching: f('message:ModelDynamicBatching', { oneof: 'scheduling_choice' }),
    sequence_batching: f('message:Opaque', { oneof: 'scheduling_choice' }),
    ensemble_scheduling: f('message:Opaque', { oneof: 'scheduling_choice' }),
    instance_group: r('message:ModelInstanceGroup'),
    default_model_filename: f('string'),
    cc_model_filenames: r('map:string:string'),
    metric_tags: r('map:string:string'),
    parameters: r('map:string:message:ModelParameter'),
    model_warmup: r('message:ModelWarmup'),
    model_operations: f('message:ModelOperations'),
    model_transaction_policy: f('message:ModelTransactionPolicy'),
    model_repository_agents: f('message:Opaque'),
    response_cache: f('message:ModelResponseCache'),
    model_metrics: f('message:Opaque'),
  },
  ModelVersionPolicy: {
    latest: f('message:Latest', { oneof: 'policy_choice' }),
    all: f('message:All', { oneof: 'policy_choice' }),
    specific: f('message:Specific', { oneof: 'policy_choice' }),
  },
  Latest: { num_versions: f('uint32') },
  All: {},
  Specific: { versions: r('int64') },
  ModelInput: {
    name: f('string'),
    data_type: f('enum:DataType'),
    format: f('enum:Format'),
    dims: r('int64'),
    reshape: f('message:ModelTensorReshape'),
    is_shape_tensor: f('bool'),
    allow_ragged_batch: f('bool'),
    optional: f('bool'),
    is_non_linear_format_io: f('bool'),
  },
  ModelOutput: {
    name: f('string'),
    data_type: f('enum:DataType'),
    dims: r('int64'),
    reshape: f('message:ModelTensorReshape'),
    label_filename: f('string'),
    is_shape_tensor: f('bool'),
    is_non_linear_format_io: f('bool'),
  },
  ModelTensorReshape: { shape: r('int64') },
  ModelInstanceGroup: {
    name: f('string'),
    kind: f('enum:Kind'),
    count: f('int32'),
    rate_limiter: f('message:Opaque'),
    gpus: r('int32'),
    secondary_devices: r('message:SecondaryDevice'),
    profile: r('string'),
    passive: f('bool'),
    host_policy: f('string'),
  },
  SecondaryDevice: { kind: f('enum:SecondaryDeviceKind'), device_id: f('int64') },
  ModelOptimizationPolicy: {
    graph: f('message:Graph'),
    priority: f('enum:ModelPriority'),
    cuda: f('message:Opaque'),
    execution_accelerators: f('message:ExecutionAccelerators'),
    input_pinned_memory: f('message:PinnedMemoryBuffer'),
    output_pinned_memory: f('message:PinnedMemoryBuffer'),
    gather_kernel_buffer_threshold: f('uint32'),
    eager_batching: f('bool'),
  },
  Graph: { level: f('int32') },
  ExecutionAccelerators: {
    gpu_execution_accelerator: r('message:Accelerator'),
    cpu_execution_accelerator: r('message:Accelerator'),
  },
  Accelerator: { name: f('string'), parameters: r('map:string:string') },
  PinnedMemoryBuffer: { enable: f('bool') },
  ModelDynamicBatching: {
    preferred_batch_size: r('int32'),
    max_queue_delay_microseconds: f('uint64'),
    preserve_ordering: f('bool'),
    priority_levels: f('uint64'),
    default_priority_level: f('uint64'),
    default_queue_policy: f('message:ModelQueuePolicy'),
    priority_queue_policy: r('map:uint64:message:ModelQueuePolicy'),
  },
  ModelQueuePolicy: {
    timeout_action: f('enum:TimeoutAction'),
    default_timeout_microseconds: f('uint64'),
    allow_timeout_override: f('bool'),
    max_queue_size: f('uint32'),
  },
  ModelParameter: { string_value: f('string') },
  ModelWarmup: {
    name: f('string'),
    batch_size: f('uint32'),
    inputs: r('map:string:message:WarmupInput'),
    count: f('uint32'),
  },
  WarmupInput: {
    data_type: f('enum:DataType'),
    dims: r('int64'),
    zero_data: f('bool', { oneof: 'input_data_type' }),
    random_data: f('bool', { oneof: 'input_data_type' }),
    input_data_file: f('string', { oneof: 'input_data_type' }),
  },
  ModelOperations: { op_library_filename: r('string') },
  ModelTransactionPolicy: { decoupled: f('bool') },
  ModelResponseCache: { enable: f('bool') },
};

/** Ranges of the integer scalars. */
export const INTEGER_RANGES: Partial<Record<Scalar, [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/**
 * The script a `python` job's python3 runs (the dispy "computation"). A string, like the function
 * runner, so it survives bundling; the runner writes it into the attempt's scratch dir.
 *
 * argv: <job module> <function name> <call.json> <result.json>. It puts the scratch dir first on
 * sys.path (so `depends` modules import by name), loads the job module, calls
 * `function(*args, **kwargs)`, and writes to the result file `{"ok":true,"value":…}` or
 * `{"ok":false,"error":"<traceback>","type":"<exception class>"}`, plus `usage` (getrusage of
 * itself and its waited-for children). A return value that is not strict JSON (a set, NaN, an
 * object) is an error naming the type. Then it flushes and leaves with os._exit, so threads the
 * function left running do not hold the attempt open. Python ≥ 3.6, stdlib only.
 */
export const PYTHON_RUNNER_SOURCE = `
import json, os, sys, traceback

def _usage():
    try:
        import resource
    except ImportError:
        return None
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == 'darwin' else 1024
    return {'cpuMs': round(cpu * 1000), 'peakMemoryBytes': max(me.ru_maxrss, kids.ru_maxrss) * scale}

def _main():
    job_path, fn_name, call_path, result_path = sys.argv[1:5]
    sys.path.insert(0, os.path.dirname(os.path.abspath(job_path)))
    sys.argv = [job_path]
    code = 0
    try:
        with open(call_path, encoding='utf-8') as f:
            call = json.load(f)
        import importlib.util
        spec = importlib.util.spec_from_file_location('__picluster_job__', job_path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules['__picluster_job__'] = mod
        spec.loader.exec_module(mod)
        fn = getattr(mod, fn_name, None)
        if not callable(fn):
            raise TypeError('the job module defines no function %r' % fn_name)
        value = fn(*call.get('args', []), **call.get('kwargs', {}))
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            code = 1
            out = {'ok': False, 'type': 'NotJSONError',
                   'error': 'the return value is not JSON: %s: %s (return lists, dicts, str, int, float, bool or None)' % (type(e).__name__, e)}
        else:
            out = None
    except BaseException as e:
        code = 1
        tb = e.__traceback__
        tb = tb.tb_next if tb is not None and tb.tb_next is not None else tb
        text = None
        out = {'ok': False, 'type': type(e).__name__, 'error': ''.join(traceback.format_exception(type(e), e, tb))}
    usage = _usage()
    with open(result_path, 'w', encoding='utf-8') as f:
        if out is None:
            f.write('{"ok":true,"value":' + text + (',"usage":' + json.dumps(usage) if usage else '') + '}')
        else:
            if usage:
                out['usage'] = usage
            json.dump(out, f)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

_main()
`;

# The image the KubeRay manifests name (cluster/kuberay/raycluster.yaml and api.yaml): this repository
# installed with `pip install .` (the service alone, no extras) at /app, on Ray's own image of the pinned
# Ray and Python, so the head, the worker and the API pods run the same code on the same Ray 2.60.0.
# Ray's image brings what KubeRay's probes and `ray start` expect (bash, wget, the `ray` user).
#
#   docker build -t registry.example.com/seatwise:0.1.0 .
#   docker run --rm -p 8000:8000 registry.example.com/seatwise:0.1.0     # embedded PostgreSQL and Redis
FROM rayproject/ray:2.60.0-py311

COPY --chown=ray:users . /app
WORKDIR /app
# No extras: the service needs none. The import check fails the build if an extra ever becomes necessary.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && python -c "import main, greenlet, sqlalchemy.ext.asyncio"

EXPOSE 8000 8265
# What `python main.py` takes; the manifests run `python /app/main.py ...` with their own arguments.
CMD ["seatwise", "--host", "0.0.0.0", "--port", "8000"]
